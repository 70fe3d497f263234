// Package ffmpeg turns a source video into an HLS ladder, a thumbnail and a storyboard
// with the ffmpeg and ffprobe programs: it checks sources, plans ladders, builds the
// command lines and runs them in their own process groups.
package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binaries names the programs to run; empty fields mean "ffmpeg" and "ffprobe" on PATH.
type Binaries struct {
	FFmpeg  string
	FFprobe string
}

func (b Binaries) ffmpeg() string {
	if b.FFmpeg == "" {
		return "ffmpeg"
	}
	return b.FFmpeg
}

func (b Binaries) ffprobe() string {
	if b.FFprobe == "" {
		return "ffprobe"
	}
	return b.FFprobe
}

// KillDelay is how long a cancelled process has, after SIGINT to its group, to finish
// before it is killed.
const KillDelay = 3 * time.Second

// stderrLines is how many of the last lines of stderr an error message keeps.
const stderrLines = 8

// ExitError is a run of ffmpeg or ffprobe that did not exit with status 0.
type ExitError struct {
	Program string
	Code    int    // the exit status; -1 when killed by a signal
	Stderr  string // the last lines of its standard error
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s exited with status %d", e.Program, e.Code)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// run starts name with args in its own process group and waits for it. Cancelling ctx
// sends SIGINT to the whole group, and after KillDelay SIGKILL, so that neither ffmpeg
// nor anything it started outlives the job. stdout, when not nil, receives the
// process's standard output as it comes; tail, when not nil, keeps the last lines of
// its standard error (an ExitError carries them too).
//
// The output pipes are plain files rather than exec's copying goroutines: Wait then
// returns when ffmpeg exits, even if something it started still holds the pipes, and
// that straggler is killed with the rest of the group right after.
func run(ctx context.Context, name string, args []string, stdout io.Writer, tail *tailBuffer) error {
	if stdout == nil {
		stdout = io.Discard
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	}
	cmd.WaitDelay = KillDelay
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	if tail == nil {
		tail = newTail()
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(stdout, outR)
		outR.Close()
	})
	wg.Go(func() {
		_, _ = io.Copy(tail, errR)
		errR.Close()
	})
	pgid := cmd.Process.Pid
	err = cmd.Wait()
	// Whatever the group still holds goes now; ESRCH when it is already empty.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	wg.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", name, context.Cause(ctx))
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return &ExitError{Program: name, Code: ee.ExitCode(), Stderr: tail.String()}
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func newTail() *tailBuffer { return &tailBuffer{max: stderrLines} }

// tailBuffer keeps the last max lines written to it.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.part = append(b.part, p...)
	for {
		i := bytes.IndexByte(b.part, '\n')
		if i < 0 {
			break
		}
		b.add(string(b.part[:i]))
		b.part = b.part[i+1:]
	}
	if len(b.part) > 4096 { // a line without end: keep its start
		b.add(string(b.part[:4096]))
		b.part = b.part[:0]
	}
	return len(p), nil
}

func (b *tailBuffer) add(line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	b.lines = append(b.lines, line)
	if len(b.lines) > b.max {
		b.lines = b.lines[len(b.lines)-b.max:]
	}
}

// String returns the kept lines joined by " | ".
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := b.lines
	if len(b.part) > 0 {
		lines = append(append([]string{}, lines...), strings.TrimSpace(string(b.part)))
	}
	return strings.Join(lines, " | ")
}
