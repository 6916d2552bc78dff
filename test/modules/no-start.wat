;; A library rather than a command: no _start.
(module
  (func (export "run")))
