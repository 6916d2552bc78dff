;; Imports a host function from outside WASI.
(module
  (import "env" "read_host_file" (func $read (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $read (i32.const 0)))))
