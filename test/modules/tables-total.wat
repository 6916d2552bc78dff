;; Eleven tables of 100,000 elements each: every one is within the per-table cap, but together they ask for
;; 1.1M elements (~33 MB of host memory at instantiation), past the 1M cap over all tables.
(module
  (table 100000 funcref)
  (table 100000 funcref)
  (table 100000 funcref)
  (table 100000 funcref)
  (table 100000 funcref)
  (table 100000 funcref)
  (table 100000 funcref)
  (table 100000 funcref)
  (table 100000 funcref)
  (table 100000 funcref)
  (table 100000 funcref)
  (func (export "_start")))
