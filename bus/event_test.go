package bus_test

import (
	"encoding/json"
	"testing"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
)

func TestParseCatalogSubject(t *testing.T) {
	for _, tc := range []struct {
		subject string
		id      int64
		typ     string
		ok      bool
	}{
		{"videoforge.catalog.video.42.created", 42, videoforge.EventCreated, true},
		{"videoforge.catalog.video.9223372036854775807.deleted", 9223372036854775807, videoforge.EventDeleted, true},
		{"videoforge.catalog.video.1.updated", 1, videoforge.EventUpdated, true},
		{"videoforge.catalog.video.0.updated", 0, "", false},
		{"videoforge.catalog.video.-1.updated", 0, "", false},
		{"videoforge.catalog.video.007.updated", 0, "", false},
		{"videoforge.catalog.video.+7.updated", 0, "", false},
		{"videoforge.catalog.video.42.renamed", 0, "", false},
		{"videoforge.catalog.video.42", 0, "", false},
		{"videoforge.catalog.video.42.updated.more", 0, "", false},
		{"videoforge.jobs.42.queued", 0, "", false},
		{"", 0, "", false},
	} {
		id, typ, err := bus.ParseCatalogSubject(tc.subject)
		if tc.ok != (err == nil) || id != tc.id || typ != tc.typ {
			t.Errorf("ParseCatalogSubject(%q) = %d, %q, %v", tc.subject, id, typ, err)
		}
		if err != nil && videoforge.ErrorCode(err) != videoforge.EINVALID {
			t.Errorf("ParseCatalogSubject(%q): error %v is not EINVALID", tc.subject, err)
		}
	}
}

func TestParseEvent(t *testing.T) {
	good := newEvent(42, 3, videoforge.EventUpdated)
	body, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		ev, err := bus.ParseEvent(good.Subject(), body)
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID != good.ID || ev.Version != 3 || ev.Video.ID != 42 || len(ev.Video.Renditions) != 1 {
			t.Fatalf("got %+v", ev)
		}
	})
	t.Run("UnknownFieldsIgnored", func(t *testing.T) {
		b := []byte(`{"id":"e1","type":"deleted","occurredAt":"2026-11-29T12:00:00Z","version":9,"video":{"id":5,"future":1},"future":true}`)
		if _, err := bus.ParseEvent(videoforge.CatalogSubject(5, videoforge.EventDeleted), b); err != nil {
			t.Fatal(err)
		}
	})
	for name, tc := range map[string]struct{ subject, body string }{
		"ErrMalformed":      {good.Subject(), `{"id":`},
		"ErrNoID":           {good.Subject(), `{"type":"updated","version":3,"video":{"id":42}}`},
		"ErrNoVideo":        {good.Subject(), `{"id":"e","type":"updated","version":3}`},
		"ErrNoVersion":      {good.Subject(), `{"id":"e","type":"updated","video":{"id":42}}`},
		"ErrUnknownType":    {good.Subject(), `{"id":"e","type":"renamed","version":3,"video":{"id":42}}`},
		"ErrOtherVideo":     {good.Subject(), `{"id":"e","type":"updated","version":3,"video":{"id":43}}`},
		"ErrOtherType":      {good.Subject(), `{"id":"e","type":"deleted","version":3,"video":{"id":42}}`},
		"ErrBadSubject":     {"videoforge.catalog.video.x.updated", string(body)},
		"ErrNotCatalog":     {"videoforge.jobs.1.queued", string(body)},
		"ErrNull":           {good.Subject(), `null`},
		"ErrWrongJSONTypes": {good.Subject(), `{"id":1,"type":"updated","version":"3","video":{"id":42}}`},
	} {
		t.Run(name, func(t *testing.T) {
			ev, err := bus.ParseEvent(tc.subject, []byte(tc.body))
			if err == nil || videoforge.ErrorCode(err) != videoforge.EINVALID {
				t.Fatalf("got %+v, %v; want an EINVALID error", ev, err)
			}
		})
	}
}

// FuzzParseEvent checks that no body or subject makes ParseEvent panic, and that what it
// accepts is consistent with its subject.
func FuzzParseEvent(f *testing.F) {
	good, _ := json.Marshal(newEvent(42, 3, videoforge.EventUpdated))
	f.Add("videoforge.catalog.video.42.updated", good)
	f.Add("videoforge.catalog.video.5.deleted", []byte(`{"id":"e1","type":"deleted","version":9,"video":{"id":5}}`))
	f.Add("videoforge.catalog.video.x.created", []byte(`{}`))
	f.Add("", []byte(`null`))
	f.Fuzz(func(t *testing.T, subject string, body []byte) {
		ev, err := bus.ParseEvent(subject, body)
		if err != nil {
			if videoforge.ErrorCode(err) != videoforge.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		if ev.Subject() != subject || ev.Version <= 0 || ev.ID == "" {
			t.Fatalf("accepted %+v on %q", ev, subject)
		}
	})
}
