package waf

import _ "unsafe" // go:linkname

// corazaFSAccess is Coraza's switch between its filesystem and in-memory
// code paths, which Coraza sets only through the no_fs_access build tag.
// With it on, Coraza writes request bodies above its in-memory limit and
// every multipart file part to temp files (a second copy of the body on
// disk), and NewWAF refuses to start when the temp dir is not writable (a
// read-only root filesystem). The gateway already holds each body in
// memory within its budget, so Coraza is switched to its memory-only
// paths for every build, not only those that remember the tag: bodies are
// buffered in memory up to the (equal) limits, file parts are inspected
// and discarded, SecUploadDir is refused. TestNoFilesystem guards it; a
// Coraza release that renames the variable fails the link, not silently.
//
//go:linkname corazaFSAccess github.com/corazawaf/coraza/v3/internal/environment.HasAccessToFS
var corazaFSAccess bool

func init() { corazaFSAccess = false }
