;; Recurses without end.
(module
  (func $deeper (call $deeper))
  (func (export "_start") (call $deeper)))
