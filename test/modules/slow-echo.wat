;; Echoes stdin to stdout after sleeping 2 s with poll_oneoff (a clock subscription, as Go and TinyGo sleep):
;; a step that is reliably still running when a test kills its worker or cancels its job.
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  ;; 0: iovec; 8: count; 64: subscription (48 bytes); 128: event (32 bytes); 160: events written; input from 65536.
  (func (export "_start")
    (local $end i32)
    (local $n i32)
    (local.set $end (i32.const 65536))
    (block $eof
      (loop $read
        (if (i32.gt_u (i32.add (local.get $end) (i32.const 65536)) (i32.mul (memory.size) (i32.const 65536)))
          (then (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))))
        (i32.store (i32.const 0) (local.get $end))
        (i32.store (i32.const 4) (i32.const 65536))
        (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
        (local.set $n (i32.load (i32.const 8)))
        (br_if $eof (i32.eqz (local.get $n)))
        (local.set $end (i32.add (local.get $end) (local.get $n)))
        (br $read)))
    ;; subscription: userdata 7, tag 0 (clock), clock id 1 (monotonic), timeout 2e9 ns, precision 0, flags 0 (relative)
    (i64.store (i32.const 64) (i64.const 7))
    (i32.store8 (i32.const 72) (i32.const 0))
    (i32.store (i32.const 80) (i32.const 1))
    (i64.store (i32.const 88) (i64.const 2000000000))
    (i64.store (i32.const 96) (i64.const 0))
    (i32.store16 (i32.const 104) (i32.const 0))
    (if (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 160)) (then unreachable))
    (i32.store (i32.const 0) (i32.const 65536))
    (i32.store (i32.const 4) (i32.sub (local.get $end) (i32.const 65536)))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))))
