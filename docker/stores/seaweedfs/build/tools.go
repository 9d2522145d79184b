//go:build tools

// Package build only pins the SeaweedFS server (the weed command) for go build; see go.mod.
package build

import _ "github.com/seaweedfs/seaweedfs/weed"
