package policy

import "embed"

// embedded is the default bundle (policy/bundle), used when Options.Dir is
// "". "all:" keeps files whose names start with "." or "_" in the binary;
// readSnapshot still skips dotfiles, as it does on disk.
//
//go:embed all:bundle
var embedded embed.FS
