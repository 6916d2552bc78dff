;; Grows a table (declared without a maximum) until refused, then prints {"elements":N}.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table $table 0 funcref)
  (data (i32.const 1024) "{\"elements\":\00")
  (data (i32.const 1040) "}\00")

  ;; Output is assembled from 4096 upwards by $emit and $emit_u32, then written to stdout by $flush.
  (global $out (mut i32) (i32.const 4096))
  (func $emit (param $s i32)
    (local $c i32)
    (block $end
      (loop $copy
        (local.set $c (i32.load8_u (local.get $s)))
        (br_if $end (i32.eqz (local.get $c)))
        (i32.store8 (global.get $out) (local.get $c))
        (global.set $out (i32.add (global.get $out) (i32.const 1)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $copy))))
  (func $emit_u32 (param $n i32)
    (local $length i32)
    (local $rest i32)
    (local.set $rest (local.get $n))
    (loop $count
      (local.set $length (i32.add (local.get $length) (i32.const 1)))
      (local.set $rest (i32.div_u (local.get $rest) (i32.const 10)))
      (br_if $count (local.get $rest)))
    (local.set $rest (local.get $length))
    (loop $digit
      (local.set $rest (i32.sub (local.get $rest) (i32.const 1)))
      (i32.store8 (i32.add (global.get $out) (local.get $rest))
        (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $rest)))
    (global.set $out (i32.add (global.get $out) (local.get $length))))
  (func $flush
    (i32.store (i32.const 0) (i32.const 4096))
    (i32.store (i32.const 4) (i32.sub (global.get $out) (i32.const 4096)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (block $refused
      (loop $grow
        (br_if $refused (i32.eq (table.grow $table (ref.null func) (i32.const 65536)) (i32.const -1)))
        (br $grow)))
    (block $refused_one
      (loop $grow_one
        (br_if $refused_one (i32.eq (table.grow $table (ref.null func) (i32.const 1)) (i32.const -1)))
        (br $grow_one)))
    (call $emit (i32.const 1024))
    (call $emit_u32 (table.size $table))
    (call $emit (i32.const 1040))
    (call $flush)))
