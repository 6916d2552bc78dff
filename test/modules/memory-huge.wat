;; Asks for 128 MiB of memory at start.
(module
  (memory (export "memory") 2048)
  (func (export "_start")))
