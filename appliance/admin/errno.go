package admin

import "syscall"

var errConnRefused error = syscall.ECONNREFUSED
