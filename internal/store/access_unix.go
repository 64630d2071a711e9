//go:build unix

package store

import "golang.org/x/sys/unix"

func accessRW(path string) error      { return unix.Access(path, unix.R_OK|unix.W_OK) }
func accessDirWrite(dir string) error { return unix.Access(dir, unix.W_OK|unix.X_OK) }
