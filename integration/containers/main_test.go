// Package containers tests scgate's container images and examples with
// Podman, for real: the repository's Dockerfile built on scratch from a
// static binary, a gateway container, a sidecar pod, examples/kubernetes
// through `podman kube play` and examples/compose run service by service.
//
// The tests never skip: without a working podman they fail and say why.
// Podman needs a containers.conf with `default_ulimits = []` on machines
// where the OCI runtime may not set rlimits (see .ci/containers.conf);
// TestMain points CONTAINERS_CONF at that file when it is not set. Base
// images cannot be pulled here, so every image is built FROM scratch.
//
// Every container, pod, network, volume, secret and image a test process
// creates carries its own name prefix and is removed when it ends.
package containers

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "FAIL: the container tests do not run with -short: they never skip")
		os.Exit(1)
	}
	conf := os.Getenv("CONTAINERS_CONF")
	if conf == "" {
		root, err := repoRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			os.Exit(1)
		}
		conf = filepath.Join(root, ".ci", "containers.conf")
	}
	// podman build's copier runs in another directory: a relative path
	// would not be found there.
	if abs, err := filepath.Abs(conf); err == nil {
		os.Setenv("CONTAINERS_CONF", abs)
	}
	code := m.Run()
	removeImages()
	os.Exit(code)
}
