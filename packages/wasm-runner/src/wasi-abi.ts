/**
 * The WASI preview1 ABI as far as the sandbox needs it: every function name with its core-wasm signature (the
 * admission allow-list checks imports against it, the WASI layer implements or stubs each one) and the errno values.
 * Shared by the main thread (admission) and the sandbox threads, so it imports nothing.
 */

export const WASI_MODULE = 'wasi_snapshot_preview1';

/** Parameter types, one letter each: `i` = i32, `I` = i64. Every function returns one i32 errno except proc_exit. */
export const WASI_FUNCTIONS: Readonly<Record<string, string>> = {
  args_get: 'ii',
  args_sizes_get: 'ii',
  environ_get: 'ii',
  environ_sizes_get: 'ii',
  clock_res_get: 'ii',
  clock_time_get: 'iIi',
  fd_advise: 'iIIi',
  fd_allocate: 'iII',
  fd_close: 'i',
  fd_datasync: 'i',
  fd_fdstat_get: 'ii',
  fd_fdstat_set_flags: 'ii',
  fd_fdstat_set_rights: 'iII',
  fd_filestat_get: 'ii',
  fd_filestat_set_size: 'iI',
  fd_filestat_set_times: 'iIIi',
  fd_pread: 'iiiIi',
  fd_prestat_get: 'ii',
  fd_prestat_dir_name: 'iii',
  fd_pwrite: 'iiiIi',
  fd_read: 'iiii',
  fd_readdir: 'iiiIi',
  fd_renumber: 'ii',
  fd_seek: 'iIii',
  fd_sync: 'i',
  fd_tell: 'ii',
  fd_write: 'iiii',
  path_create_directory: 'iii',
  path_filestat_get: 'iiiii',
  path_filestat_set_times: 'iiiiIIi',
  path_link: 'iiiiiii',
  path_open: 'iiiiiIIii',
  path_readlink: 'iiiiii',
  path_remove_directory: 'iii',
  path_rename: 'iiiiii',
  path_symlink: 'iiiii',
  path_unlink_file: 'iii',
  poll_oneoff: 'iiii',
  proc_exit: 'i',
  proc_raise: 'i',
  sched_yield: '',
  random_get: 'ii',
  sock_accept: 'iii',
  sock_recv: 'iiiiii',
  sock_send: 'iiiii',
  sock_shutdown: 'ii',
};

/** Functions that return nothing; all others return an i32 errno. */
export const WASI_NO_RESULT: ReadonlySet<string> = new Set(['proc_exit']);

/** Functions that never touch linear memory, so a module importing only these needs no exported memory. */
export const WASI_MEMORYLESS: ReadonlySet<string> = new Set(['proc_exit', 'proc_raise', 'sched_yield', 'fd_close']);

/** errno values of preview1 (witx `errno` enum order). */
export const Errno = {
  SUCCESS: 0,
  BADF: 8,
  INVAL: 28,
  NOSYS: 52,
  NOTDIR: 54,
  NOTSOCK: 57,
  SPIPE: 70,
} as const;
