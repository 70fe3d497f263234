package terraform_test

import (
	"strconv"
	"testing"
)

// TestAbandonedMultipartUploadsAborted: the media bucket aborts the multipart uploads
// under uploads/ that nothing completed (a resumable upload given up while the
// catalog could not sweep it), so that their parts are not kept and billed forever.
func TestAbandonedMultipartUploadsAborted(t *testing.T) {
	c := loadConfig(t)
	found := false
	for _, lc := range c.blocks("resource", "aws_s3_bucket_lifecycle_configuration") {
		for _, rule := range lc.Body.Blocks {
			if rule.Type != "rule" {
				continue
			}
			prefix := ""
			for _, f := range rule.Body.Blocks {
				if f.Type == "filter" {
					prefix, _ = stringAttr(f.Body, "prefix")
				}
			}
			for _, a := range rule.Body.Blocks {
				if a.Type != "abort_incomplete_multipart_upload" || (prefix != "uploads/" && prefix != "") {
					continue
				}
				days, ok := a.Body.Attributes["days_after_initiation"]
				if !ok {
					t.Errorf("%s: abort_incomplete_multipart_upload without days_after_initiation", lc.name())
					continue
				}
				v, ok := constant(days.Expr)
				if !ok {
					t.Errorf("%s: days_after_initiation must be a literal", lc.name())
					continue
				}
				d, _ := strconv.Atoi(v.AsBigFloat().String())
				if d < 1 || d > 7 {
					t.Errorf("%s: multipart uploads aborted after %d days, want 1 to 7", lc.name(), d)
				}
				found = true
			}
		}
	}
	if !found {
		t.Error("no lifecycle rule aborts incomplete multipart uploads under uploads/")
	}
}
