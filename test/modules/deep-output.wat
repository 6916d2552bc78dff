;; Prints [[[…]]] nested 5,000 deep: valid JSON, but deeper than a step result may be (PostgreSQL's jsonb refused
;; nesting past ~4,000 levels here), so the step must fail with wasm_bad_output instead of a write that throws.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: iovec; 8: bytes written; output from 16: 5,000 "[" then 5,000 "]".
  (func (export "_start")
    (local $i i32)
    (loop $open
      (i32.store8 (i32.add (i32.const 16) (local.get $i)) (i32.const 91))
      (i32.store8 (i32.add (i32.const 5016) (local.get $i)) (i32.const 93))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $open (i32.lt_u (local.get $i) (i32.const 5000))))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 10000))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
