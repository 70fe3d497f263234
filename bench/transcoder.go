package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

// benchTranscoder measures the one-process ladder against one ffmpeg per rendition on
// the same source, and the worker's process handling (process group, progress parsing)
// against the same ffmpeg command run bare. Each figure is the best of runs.
func benchTranscoder(ctx context.Context, size string, seconds, runs int) ([]row, []string, error) {
	dir, err := os.MkdirTemp("", "bench-transcoder-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "source.mp4")
	gen := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=30:duration=%d", size, seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%d", seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", src)
	if out, err := gen.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("generate the source (is ffmpeg installed? make deps): %v: %s", err, out)
	}
	cfg := ffmpeg.DefaultConfig()
	loadBefore := loadAverage()
	info, err := ffmpeg.Probe(ctx, ffmpeg.Binaries{}, src, ffmpeg.Limits{})
	if err != nil {
		return nil, nil, err
	}
	plan := ffmpeg.PlanLadder(info, cfg)
	runner := &ffmpeg.Runner{Config: cfg}
	bare := func(args []string) error {
		cmd := exec.CommandContext(ctx, "ffmpeg", args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %.300s", err, out)
		}
		return nil
	}
	mkdirs := func(out string, p ffmpeg.Plan) error {
		for _, v := range p.Variants {
			if err := os.MkdirAll(filepath.Join(out, layout.HLSDir, v.Name), 0o755); err != nil {
				return err
			}
		}
		return nil
	}

	kinds := []struct {
		name string
		run  func(out string) error
	}{
		{"ladder-one-process", func(out string) error {
			if err := mkdirs(out, plan); err != nil {
				return err
			}
			return bare(ffmpeg.LadderArgs(src, out, plan, cfg))
		}},
		{"ladder-per-rendition", func(out string) error {
			for _, v := range plan.Variants {
				p := plan
				p.Variants = []ffmpeg.Variant{v}
				if err := mkdirs(out, p); err != nil {
					return err
				}
				if err := bare(ffmpeg.LadderArgs(src, out, p, cfg)); err != nil {
					return err
				}
			}
			return nil
		}},
		{"worker-encode", func(out string) error {
			reports := 0
			return runner.Encode(ctx, src, out, plan, func(ffmpeg.Progress) { reports++ })
		}},
	}
	// Runs interleave the kinds, so that a slow moment of the machine hits them all.
	// Besides wall time, the CPU time of ffmpeg and of this process is counted: on a
	// machine shared with other work it is the steadier figure.
	best := make([]time.Duration, len(kinds))
	bestCPU := make([]time.Duration, len(kinds))
	for i := range runs {
		for k, kind := range kinds {
			out := filepath.Join(dir, fmt.Sprintf("%s-%d", kind.name, i))
			cpu0 := cpuTime()
			began := time.Now()
			if err := kind.run(out); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", kind.name, err)
			}
			took, cpu := time.Since(began), cpuTime()-cpu0
			os.RemoveAll(out)
			slog.Info("transcoder bench", "what", kind.name, "run", i, "took", took, "cpu", cpu)
			if best[k] == 0 || took < best[k] {
				best[k] = took
			}
			if bestCPU[k] == 0 || cpu < bestCPU[k] {
				bestCPU[k] = cpu
			}
		}
	}
	one, separate, worker := best[0], best[1], best[2]
	plain := one
	oneCPU, separateCPU, workerCPU := bestCPU[0], bestCPU[1], bestCPU[2]
	names := ""
	for i, v := range plan.Variants {
		if i > 0 {
			names += "/"
		}
		names += v.Name
	}
	cmd := fmt.Sprintf("go run ./bench -only transcoder -transcoder-size %s -transcoder-seconds %d -transcoder-runs %d", size, seconds, runs)
	rows := []row{
		{fmt.Sprintf("ladder %s of a %ds %s clip, one ffmpeg vs one per rendition: wall time", names, seconds, size),
			fmt.Sprintf("%.2f× (%.1fs vs %.1fs)", separate.Seconds()/one.Seconds(), one.Seconds(), separate.Seconds()), "≥ 1.3×", cmd},
		{"the same, CPU time", fmt.Sprintf("%.2f× (%.1fs vs %.1fs)", separateCPU.Seconds()/oneCPU.Seconds(), oneCPU.Seconds(), separateCPU.Seconds()), "≥ 1.3×", cmd},
		{"worker's ffmpeg handling (process group, -progress parsing) over the same command bare: wall time",
			fmt.Sprintf("%+.1f %% (%.2fs vs %.2fs)", 100*(worker.Seconds()/plain.Seconds()-1), worker.Seconds(), plain.Seconds()), "≤ 5 %", cmd},
		{"the same, CPU time", fmt.Sprintf("%+.1f %% (%.2fs vs %.2fs)", 100*(workerCPU.Seconds()/oneCPU.Seconds()-1), workerCPU.Seconds(), oneCPU.Seconds()), "≤ 5 %", cmd},
	}
	notes := []string{fmt.Sprintf("Transcoder: preset %s, best of %d runs each; the per-rendition runs are sequential, each decoding the source again. "+
		"Load average before and after: %s, %s (other work on the machine shrinks the wall-time gain of one process, whose encoders run side by side).",
		cfg.Preset, runs, loadBefore, loadAverage())}
	return rows, notes, nil
}

// loadAverage returns the one-minute load average, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// cpuTime returns the user and system time of this process and its waited-for children.
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}
