;; Traps at once.
(module
  (func (export "_start") unreachable))
