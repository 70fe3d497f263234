package postgres

// SetTestHook makes the job store call hook at the named points ("expire": the janitor
// is about to lock a job it found pending).
func (s *JobService) SetTestHook(hook func(point string, jobID int64)) { s.testHook = hook }

// Translate is translate, for its test.
var Translate = translate
