;; Imports its memory instead of defining it.
(module
  (import "env" "memory" (memory 1))
  (func (export "_start")))
