;; Says why on stderr, as a Rust panic does, then traps with `unreachable`: the trap's error message must carry
;; the end of stderr, not just "unreachable".
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "thread 'main' panicked at src/main.rs:7:5:\nthe input has no name\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 65))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    unreachable))
