package bus

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// Role is what a NATS user is for. Every process connects as the user of its role, and
// each role may publish and subscribe only to what its job needs, so that a leaked
// reader password cannot forge a catalog event and a compromised transcoder (the role
// that opens hostile files) cannot publish one either.
type Role string

// The roles. Their names are also their NATS user names.
const (
	// RoleRelay publishes the catalog's outbox on videoforge.catalog.> and declares
	// the CATALOG and JOBS streams.
	RoleRelay Role = "relay"
	// RoleTranscoder publishes job events on videoforge.jobs.> and takes jobs from the
	// JetStream work queue (TRANSCODE, dead letters on TRANSCODE_DEAD).
	RoleTranscoder Role = "transcoder"
	// RoleUploads is the catalog's upload side: it puts job messages on the work queue
	// and publishes their "queued" events.
	RoleUploads Role = "uploads"
	// RoleCatalog is the catalog process in production, which runs the relay and the
	// upload side with one connection: it may do what both do.
	RoleCatalog Role = "catalog"
	// RoleReader only reads videoforge.catalog.> and videoforge.jobs.>: edges,
	// the upload command and outside subscribers such as the stock nats CLI.
	RoleReader Role = "reader"
)

// Roles returns every role, in a fixed order.
func Roles() []Role { return []Role{RoleRelay, RoleTranscoder, RoleUploads, RoleCatalog, RoleReader} }

// The work queue's streams and subjects as the transcoder's JetStream queue declares
// them; permissions name them.
const (
	TranscodeStream     = "TRANSCODE"
	TranscodeDeadStream = "TRANSCODE_DEAD"
	TranscodeSubjects   = "videoforge.transcode.>"
	TranscodeJobSubject = "videoforge.transcode.jobs"
)

// InboxPrefix returns the inbox prefix of a user's connections made by Connect. Each
// user may subscribe only to its own inboxes, so that no other client reads the replies
// it gets (JetStream's acks, the work queue's deliveries). Only readers may also use
// the usual _INBOX prefix, which the stock nats CLI and the edge's connection use.
func InboxPrefix(user string) string { return "_INBOX_" + user }

// Permissions returns what a role's user may publish and subscribe to. JetStream's API
// is requests on $JS.API.>, so each role is allowed the calls it makes and no more:
// readers may look a stream up (STREAM.INFO), create ordered consumers on CATALOG and
// JOBS and pull from them (CONSUMER.CREATE, CONSUMER.MSG.NEXT) and read single
// messages (DIRECT.GET), but not delete, purge or change anything, nor acknowledge;
// nobody but the relay may change CATALOG. Every role may read the account's
// JetStream usage ($JS.API.INFO), which the stock nats CLI asks for.
func Permissions(r Role) *server.Permissions {
	api := func(call string, streams ...string) []string {
		var out []string
		for _, s := range streams {
			out = append(out, "$JS.API."+call+"."+s)
		}
		return out
	}
	apiAll := func(call string, streams ...string) []string {
		out := api(call, streams...)
		for i := range out {
			out[i] += ".>"
		}
		return out
	}
	perm := func(pub, sub []string) *server.Permissions {
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pub},
			Subscribe: &server.SubjectPermission{Allow: sub},
		}
	}
	inbox := []string{InboxPrefix(string(r)) + ".>"}
	info := []string{"$JS.API.INFO"}
	queue := []string{TranscodeStream, TranscodeDeadStream}
	switch r {
	case RoleRelay:
		return perm(concat(
			[]string{CatalogSubjects}, info,
			api("STREAM.INFO", CatalogStream, JobsStream),
			api("STREAM.CREATE", CatalogStream, JobsStream),
			api("STREAM.UPDATE", CatalogStream, JobsStream),
			apiAll("DIRECT.GET", CatalogStream),
			api("STREAM.MSG.GET", CatalogStream),
		), inbox)
	case RoleTranscoder:
		return perm(concat(
			[]string{JobsSubjects, TranscodeSubjects}, info,
			api("STREAM.INFO", CatalogStream, JobsStream, TranscodeStream, TranscodeDeadStream),
			api("STREAM.CREATE", JobsStream, TranscodeStream, TranscodeDeadStream),
			api("STREAM.UPDATE", JobsStream, TranscodeStream, TranscodeDeadStream),
			apiAll("CONSUMER.CREATE", queue...),
			apiAll("CONSUMER.INFO", queue...),
			apiAll("CONSUMER.MSG.NEXT", queue...),
			[]string{"$JS.ACK." + TranscodeStream + ".>", "$JS.ACK." + TranscodeDeadStream + ".>"},
		), inbox)
	case RoleUploads:
		return perm(concat(
			[]string{TranscodeJobSubject, JobsSubjectPrefix + "*.queued"}, info,
			api("STREAM.INFO", CatalogStream, JobsStream, TranscodeStream, TranscodeDeadStream),
			api("STREAM.CREATE", JobsStream, TranscodeStream, TranscodeDeadStream),
			api("STREAM.UPDATE", JobsStream, TranscodeStream, TranscodeDeadStream),
		), inbox)
	case RoleCatalog:
		relay, uploads := Permissions(RoleRelay), Permissions(RoleUploads)
		return perm(dedupe(concat(relay.Publish.Allow, uploads.Publish.Allow)), inbox)
	case RoleReader:
		return perm(concat(
			info,
			// Which stream holds a subject: the nats CLI asks before `sub --all`.
			[]string{"$JS.API.STREAM.NAMES"},
			api("STREAM.INFO", CatalogStream, JobsStream),
			apiAll("CONSUMER.CREATE", CatalogStream, JobsStream),
			apiAll("CONSUMER.MSG.NEXT", CatalogStream, JobsStream),
			apiAll("DIRECT.GET", CatalogStream, JobsStream),
		), concat([]string{CatalogSubjects, JobsSubjects, "_INBOX.>"}, inbox))
	}
	// An unknown role may do nothing at all.
	return perm([]string{}, []string{})
}

// JobsSubjectPrefix starts every job event's subject.
const JobsSubjectPrefix = "videoforge.jobs."

// dedupe drops repeated subjects, keeping the first of each.
func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// Credentials are the passwords of the roles' users on one NATS server.
type Credentials map[Role]string

// LoadOrCreateCredentials reads the roles' passwords from dir, one file <role>.password
// each, creating the folder (0700) and any missing password (random, 0600). The embedded
// server of `videoforge dev` keeps them in its data folder, as it does the signing keys,
// so that they survive restarts and outside readers can use the reader's.
func LoadOrCreateCredentials(dir string) (Credentials, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bus: credentials folder: %w", err)
	}
	c := Credentials{}
	for _, r := range Roles() {
		path := PasswordFile(dir, r)
		b, err := os.ReadFile(path)
		if err == nil {
			if p := strings.TrimSpace(string(b)); p != "" {
				c[r] = p
				continue
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bus: read %s: %w", path, err)
		}
		key := make([]byte, 16)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("bus: make password: %w", err)
		}
		p := hex.EncodeToString(key) // safe in a URL's user info as it is
		if err := os.WriteFile(path, []byte(p+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("bus: write %s: %w", path, err)
		}
		c[r] = p
	}
	return c, nil
}

// PasswordFile is where LoadOrCreateCredentials keeps a role's password in dir.
func PasswordFile(dir string, r Role) string { return filepath.Join(dir, string(r)+".password") }

// Users returns the server's users: one per role known to c, named after the role,
// with the role's permissions.
func (c Credentials) Users() []*server.User {
	var users []*server.User
	for _, r := range Roles() {
		if p, ok := c[r]; ok {
			users = append(users, &server.User{Username: string(r), Password: p, Permissions: Permissions(r)})
		}
	}
	return users
}

// URL returns serverURLs (one URL or a comma-separated list) with the role's user and
// password in each, the form NATS_URL takes.
func (c Credentials) URL(serverURLs string, r Role) string {
	return WithUser(serverURLs, string(r), c[r])
}

// WithUser puts a user and password into each of a list of NATS URLs, replacing any
// already there.
func WithUser(serverURLs, user, password string) string {
	parts := strings.Split(serverURLs, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.Host != "" {
			u.User = url.UserPassword(user, password)
			p = u.String()
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// urlUser returns the user named in the first of a list of NATS URLs that names one.
func urlUser(servers string) string {
	for _, p := range strings.Split(servers, ",") {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil && u.User.Username() != "" {
			return u.User.Username()
		}
	}
	return ""
}
