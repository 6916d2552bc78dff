;; Never returns from its start function, which runs during instantiation, before _start.
(module
  (func $spin (loop $forever (br $forever)))
  (start $spin)
  (func (export "_start")))
