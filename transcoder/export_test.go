package transcoder

// SetTestHook makes the transcoder call hook at the named points of every job.
func (t *Transcoder) SetTestHook(hook func(point string)) { t.testHook = hook }
