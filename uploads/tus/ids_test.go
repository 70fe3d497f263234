package tus

import (
	"strconv"
	"testing"
)

func TestJobOf(t *testing.T) {
	for _, tc := range []struct {
		id   string
		job  int64
		isOK bool
	}{
		{"job-7", 7, true},
		{"7/source+2~abc.def_x-y", 7, true},
		{"123456789/source+m", 123456789, true},
		{"job-07", 0, false},
		{"job--7", 0, false},
		{"job-0", 0, false},
		{"7/source", 0, false}, // no multipart upload id: not an id s3store gives
		{"7/other+m", 0, false},
		{"../7/source+m", 0, false},
		{"7", 0, false},
		{"", 0, false},
		{"job-9223372036854775808", 0, false},
	} {
		job, ok := jobOf(tc.id)
		if job != tc.job || ok != tc.isOK {
			t.Errorf("jobOf(%q) = %d, %v; want %d, %v", tc.id, job, ok, tc.job, tc.isOK)
		}
	}
	for _, inBucket := range []bool{false, true} {
		id := uploadID(inBucket, 42)
		if inBucket {
			id += "+multipart"
		}
		if job, ok := jobOf(id); !ok || job != 42 {
			t.Errorf("jobOf(uploadID(%v, 42)) = %d, %v", inBucket, job, ok)
		}
	}
	if got := uploadID(true, 42); got != "42/source" {
		t.Errorf("bucket upload id %q: want the source key under uploads/", got)
	}
}

// FuzzJobOf: whatever a request's path holds, a job id found in it names that job
// and nothing else.
func FuzzJobOf(f *testing.F) {
	for _, s := range []string{"job-7", "7/source+x", "job-", "/source+", "0/source+a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		job, ok := jobOf(id)
		if !ok {
			return
		}
		n := strconv.FormatInt(job, 10)
		if job <= 0 || (id != "job-"+n && id[:len(n)+8] != n+"/source+") {
			t.Errorf("jobOf(%q) = %d", id, job)
		}
	})
}
