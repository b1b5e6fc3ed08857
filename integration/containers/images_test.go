package containers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testVersion is linked into the test binary as the Dockerfile's
// SCGATE_VERSION build argument links it, so `scgate version` in the image
// shows that the link-time version reaches the command.
const testVersion = "v0.0.0-containertest"

// Image names, unique to this test process.
var (
	gatewayImage = "localhost/" + prefix + "-scgate:test"
	appImage     = "localhost/" + prefix + "-app:test"
	redisImage   = "localhost/" + prefix + "-redis:test"
)

var (
	imagesOnce sync.Once
	imagesErr  error
	redisOnce  sync.Once
	redisErr   error
	// built lists the images to remove when the process ends.
	builtMu sync.Mutex
	built   []string
	workDir string
)

// requireImages builds the gateway and application images once per test
// process and fails t if that is impossible (no podman, a failed build).
func requireImages(t testing.TB) {
	t.Helper()
	imagesOnce.Do(func() { imagesErr = buildImages() })
	if imagesErr != nil {
		t.Fatalf("building the images: %v", imagesErr)
	}
}

// requireRedisImage builds, once, an image of the host's redis-server and
// redis-cli with the libraries they load (Redis images cannot be pulled
// here), for the compose example's redis service.
func requireRedisImage(t testing.TB) {
	t.Helper()
	requireImages(t)
	redisOnce.Do(func() { redisErr = buildRedisImage() })
	if redisErr != nil {
		t.Fatalf("building the redis image: %v", redisErr)
	}
}

// buildImages builds the repository's Dockerfile (the scgate image) and
// examples/compose/upstream.Dockerfile (the example application) as their
// comments describe for a prebuilt static binary on scratch: --target
// prebuilt, BASE_IMAGE=scratch. The binaries are built like the Dockerfile's build
// stage (CGO_ENABLED=0, the version linked in), without -trimpath and -s -w
// so that they reuse the build cache of other static builds.
func buildImages() error {
	if res, err := runPodman("version", "--format", "{{.Client.Version}}"); err != nil {
		return err
	} else if res.code != 0 {
		return fmt.Errorf("podman does not work (CONTAINERS_CONF=%s): %s", os.Getenv("CONTAINERS_CONF"), res.stderr)
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	workDir, err = os.MkdirTemp("", prefix+"-")
	if err != nil {
		return err
	}

	gw := filepath.Join(workDir, "gateway")
	rootfs := filepath.Join(gw, "rootfs")
	if err := goBuild(root, filepath.Join(rootfs, "usr", "bin", "scgate"), "./cmd/scgate", "-ldflags=-X main.version="+testVersion); err != nil {
		return err
	}
	for src, dst := range map[string]string{
		filepath.Join(root, "container", "etc", "passwd"): filepath.Join(rootfs, "etc", "passwd"),
		filepath.Join(root, "container", "etc", "group"):  filepath.Join(rootfs, "etc", "group"),
		"/etc/ssl/certs/ca-certificates.crt":              filepath.Join(rootfs, "etc", "ssl", "certs", "ca-certificates.crt"),
	} {
		if err := copyFile(src, dst); err != nil {
			return err
		}
	}
	for _, d := range []string{"data", "config"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	if err := podmanBuild(gatewayImage, filepath.Join(root, "Dockerfile"), gw); err != nil {
		return err
	}

	app := filepath.Join(workDir, "app")
	if err := goBuild(root, filepath.Join(app, "upstream"), "./examples/upstream"); err != nil {
		return err
	}
	return podmanBuild(appImage, filepath.Join(root, "examples", "compose", "upstream.Dockerfile"), app)
}

// podmanBuild builds dockerfile with context dir on scratch from the
// prebuilt stage. --format docker keeps the HEALTHCHECK (the OCI format
// has none).
func podmanBuild(image, dockerfile, dir string) error {
	res, err := runPodman("build", "--format", "docker", "--pull=never",
		"--file", dockerfile, "--build-arg", "BASE_IMAGE=scratch", "--target", "prebuilt",
		"--tag", image, dir)
	if err != nil {
		return err
	}
	if res.code != 0 {
		return fmt.Errorf("podman build of %s failed:\n%s%s", dockerfile, res.stdout, res.stderr)
	}
	builtMu.Lock()
	built = append(built, image)
	builtMu.Unlock()
	return nil
}

// goBuild builds a static binary of pkg (relative to the module root) at out.
func goBuild(root, out, pkg string, flags ...string) error {
	args := append(append([]string{"build", "-o", out}, flags...), pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// buildRedisImage puts the host's redis-server and redis-cli and every
// library ldd lists for them into a scratch image.
func buildRedisImage() error {
	dir := filepath.Join(workDir, "redis")
	files := map[string]bool{}
	for _, name := range []string{"redis-server", "redis-cli"} {
		path, err := exec.LookPath(name)
		if err != nil {
			return fmt.Errorf("%s is not installed (apt-get install redis-server): %w", name, err)
		}
		files[path] = true
		out, err := exec.Command("ldd", path).Output()
		if err != nil {
			return fmt.Errorf("ldd %s: %w", path, err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			for _, f := range strings.Fields(sc.Text()) {
				if strings.HasPrefix(f, "/") {
					files[f] = true
				}
			}
		}
	}
	for f := range files {
		// Symbolic links are followed: the image gets the files' contents
		// at the paths the loader looks up.
		if err := copyFile(f, filepath.Join(dir, "rootfs", f)); err != nil {
			return err
		}
	}
	containerfile := "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/bin:/bin\nWORKDIR /data\n"
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(containerfile), 0o644); err != nil {
		return err
	}
	res, err := runPodman("build", "--pull=never", "--tag", redisImage, dir)
	if err != nil {
		return err
	}
	if res.code != 0 {
		return fmt.Errorf("podman build of the redis image failed:\n%s%s", res.stdout, res.stderr)
	}
	builtMu.Lock()
	built = append(built, redisImage)
	builtMu.Unlock()
	return nil
}

// removeImages removes the images and files this process built.
func removeImages() {
	builtMu.Lock()
	defer builtMu.Unlock()
	if len(built) > 0 {
		if res, err := runPodman(append([]string{"rmi", "--force"}, built...)...); err != nil || res.code != 0 {
			fmt.Fprintf(os.Stderr, "removing images %v: %v %s\n", built, err, res.stderr)
		}
	}
	if workDir != "" {
		os.RemoveAll(workDir)
	}
}

// repoRoot returns the module's root directory.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the scgate module")
	}
	return filepath.Dir(gomod), nil
}

// copyFile copies src's contents (following symbolic links) to dst,
// creating dst's directory, with src's permission bits.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
