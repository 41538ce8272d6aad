package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildTime is the build time when the build sets it with
// -ldflags "-X main.buildTime=...": Go does not record one by itself.
var buildTime string

// versionInfo is what `ikegate version` prints.
type versionInfo struct {
	Version    string `json:"version"`               // module version, "(devel)" when unknown
	Module     string `json:"module"`                // module path
	Commit     string `json:"commit,omitempty"`      // VCS revision; "" when not recorded
	Dirty      bool   `json:"dirty"`                 // the tree had uncommitted changes
	VCS        string `json:"vcs,omitempty"`         // "git", ...
	CommitTime string `json:"commit_time,omitempty"` // RFC 3339
	BuildTime  string `json:"build_time,omitempty"`  // only from -ldflags -X main.buildTime
	Go         string `json:"go"`                    // toolchain version
	Platform   string `json:"platform"`              // GOOS/GOARCH
}

// readVersion reads the version of this binary (debug.ReadBuildInfo).
func readVersion() versionInfo {
	bi, _ := debug.ReadBuildInfo()
	return versionFrom(bi, buildTime)
}

// versionFrom extracts the version from bi, which may be nil (a binary
// built without module support) or lack the VCS settings (go test,
// -buildvcs=false, a build outside a repository).
func versionFrom(bi *debug.BuildInfo, built string) versionInfo {
	v := versionInfo{Version: "(devel)", Module: "ikegate", BuildTime: built,
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return v
	}
	if bi.Main.Path != "" {
		v.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs":
			v.VCS = s.Value
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Dirty = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		v.Platform = goos + "/" + goarch
	}
	return v
}

// write prints v for people:
//
//	ikegate v0.0.0-20250101120000-0123456789ab+dirty
//	commit:      0123456789abcdef0123456789abcdef01234567 (dirty)
//	commit time: 2025-01-01T12:00:00Z
//	go:          go1.26.8 linux/amd64
func (v versionInfo) write(w io.Writer) {
	fmt.Fprintf(w, "%s %s\n", v.Module, v.Version)
	switch {
	case v.Commit == "":
		fmt.Fprintln(w, "commit:      unknown (built without VCS information)")
	case v.Dirty:
		fmt.Fprintf(w, "commit:      %s (dirty)\n", v.Commit)
	default:
		fmt.Fprintf(w, "commit:      %s\n", v.Commit)
	}
	if v.CommitTime != "" {
		fmt.Fprintf(w, "commit time: %s\n", v.CommitTime)
	}
	if v.BuildTime != "" {
		fmt.Fprintf(w, "build time:  %s\n", v.BuildTime)
	}
	fmt.Fprintf(w, "go:          %s %s\n", v.Go, v.Platform)
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := noPositional(fs, args); !ok {
		return code
	}
	v := readVersion()
	if *asJSON {
		return printJSON(stdout, stderr, v)
	}
	v.write(stdout)
	return exitOK
}
