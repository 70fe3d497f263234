package terraform_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/zclconf/go-cty/cty"
)

// goTLSDir writes a CA and a node certificate for 127.0.0.1 made in Go, as
// ca.pem, server.pem and server.key, and returns the folder.
func goTLSDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for name, b := range map[string]*pem.Block{
		"ca.pem":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem": {Type: "CERTIFICATE", Bytes: der},
		"server.key": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fakeAWS is a stand-in for `aws secretsmanager get-secret-value / put-secret-value`
// with Secrets Manager's rule for ClientRequestToken: the first value stored under a
// token stays; the same value again is accepted, a different one refused.
const fakeAWS = `#!/bin/bash
set -u
svc=$1; op=$2; shift 2
id=""; ver=""; tok=""; val=""
while [ $# -gt 0 ]; do
  case $1 in
    --secret-id) id=$2; shift 2;;
    --version-id) ver=$2; shift 2;;
    --client-request-token) tok=$2; shift 2;;
    --secret-string) val=$2; shift 2;;
    *) shift;;
  esac
done
[ "$svc" = secretsmanager ] || { echo "fake aws: $svc" >&2; exit 2; }
d=$FAKE_SM/$(printf %s "$id" | tr -c 'A-Za-z0-9' _)
mkdir -p "$d/versions"
case $op in
get-secret-value)
  v=$ver
  [ -n "$v" ] || v=$(cat "$d/current" 2>/dev/null || true)
  if [ -z "$v" ] || [ ! -f "$d/versions/$v" ]; then echo "ResourceNotFoundException: $id $v" >&2; exit 254; fi
  cat "$d/versions/$v"; echo;;
put-secret-value)
  f=${val#file://}
  if mkdir "$d/versions/$tok.lock" 2>/dev/null; then
    cp "$f" "$d/versions/$tok.tmp" && mv "$d/versions/$tok.tmp" "$d/versions/$tok"
    echo "$tok" > "$d/current"
    echo put >> "$d/puts"
    exit 0
  fi
  for i in $(seq 200); do [ -f "$d/versions/$tok" ] && break; sleep 0.05; done
  cmp -s "$f" "$d/versions/$tok" && exit 0
  echo "ResourceExistsException: $id $tok" >&2; exit 254;;
*) echo "fake aws: $op" >&2; exit 2;;
esac
`

func readPEMCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNATSTLS runs the nodes' TLS bootstrap (nats-tls, from the rendered user data) for
// two nodes booting at once against a stand-in Secrets Manager, then starts nats-servers
// with the configuration the user data writes: one CA wins, each node gets a
// certificate for its address signed by it and keeps no CA key, the clients' copy of the
// CA is published, the nodes route to each other over mutual TLS, and a client
// connects with tls:// and the CA file (NATS_CA_FILE) only.
func TestNATSTLS(t *testing.T) {
	for _, tool := range []string{"bash", "openssl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: the NATS TLS bootstrap is run with it (apt-get install -y %s)", tool, tool)
		}
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(fakeAWS), 0o755); err != nil {
		t.Fatal(err)
	}
	sm := t.TempDir()
	vars := func(i int) map[string]cty.Value {
		return natsTemplateVars(map[string]cty.Value{
			"server_name": cty.StringVal("videoforge-dev-nats-" + string(rune('0'+i))),
			"node_ip":     cty.StringVal("127.0.0.1"),
		})
	}
	re := regexp.MustCompile(`(?s)cat > /usr/local/sbin/nats-tls <<'SCRIPT'\n(.*?)\nSCRIPT\n`)
	confRe := regexp.MustCompile(`(?s)cat > /etc/nats-server.conf <<'CONF'\n(.*?)\nCONF\n`)
	const nodes = 2
	var dirs, confs []string
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := range nodes {
		script := renderTemplate(t, "modules/bus/templates/nats.sh.tftpl", vars(i))
		bashSyntax(t, "nats", script)
		m := re.FindStringSubmatch(script)
		if m == nil {
			t.Fatalf("the NATS user data writes no /usr/local/sbin/nats-tls:\n%s", script)
		}
		if !strings.Contains(script, "\n/usr/local/sbin/nats-tls\n") {
			t.Error("the NATS user data does not run nats-tls")
		}
		c := confRe.FindStringSubmatch(script)
		if c == nil {
			t.Fatal("the NATS user data writes no /etc/nats-server.conf")
		}
		confs = append(confs, c[1])
		p := filepath.Join(t.TempDir(), "nats-tls")
		if err := os.WriteFile(p, []byte(m[1]), 0o755); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "tls")
		dirs = append(dirs, dir)
		cmd := exec.Command("bash", p)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_SM="+sm, "NATS_TLS_DIR="+dir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	// Both at once: the race of two first boots.
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("nats-tls of node %d: %v\n%s", i, err, outs[i])
		}
	}

	ca0, err := os.ReadFile(filepath.Join(dirs[0], "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ca := readPEMCert(t, filepath.Join(dirs[0], "ca.pem"))
	if !ca.IsCA {
		t.Error("ca.pem is no CA certificate")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for i, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{"ca.pem", "server.key", "server.pem"}) {
			t.Errorf("node %d keeps %v, want only ca.pem, server.key, server.pem (no CA key)", i, names)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(b, ca0) {
			t.Errorf("node %d has another CA than node 0", i)
		}
		leaf := readPEMCert(t, filepath.Join(dir, "server.pem"))
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1",
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("node %d's certificate does not verify for its address as a server: %v", i, err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("node %d's certificate does not verify as a route client: %v", i, err)
		}
		if want := "videoforge-dev-nats-" + string(rune('0'+i)); !slices.Contains(leaf.DNSNames, want) {
			t.Errorf("node %d's certificate names %v, want %s", i, leaf.DNSNames, want)
		}
	}
	// The stand-in store: one CA version, and the clients' copy is that certificate.
	caSecret := filepath.Join(sm, strings.Map(alnumOr_, "arn:aws:secretsmanager:eu-west-1:1:secret:videoforge-dev/nats/ca"))
	certSecret := filepath.Join(sm, strings.Map(alnumOr_, "arn:aws:secretsmanager:eu-west-1:1:secret:videoforge-dev/nats/ca-cert"))
	if puts, _ := os.ReadFile(filepath.Join(caSecret, "puts")); strings.Count(string(puts), "put") != 1 {
		t.Errorf("the CA secret got %d versions, want 1", strings.Count(string(puts), "put"))
	}
	version := vars(0)["ca_version"].AsString()
	published, err := os.ReadFile(filepath.Join(certSecret, "versions", version))
	if err != nil {
		t.Fatalf("the CA certificate was not published for the clients: %v", err)
	}
	if !bytes.Equal(bytes.TrimSpace(published), bytes.TrimSpace(ca0)) {
		t.Error("the clients' CA certificate is not the nodes' CA")
	}
	if bytes.Contains(published, []byte("PRIVATE KEY")) {
		t.Fatal("the clients' CA secret holds a private key")
	}
	caFile := filepath.Join(t.TempDir(), "nats_ca") // as videoforge-config writes NATS_CA_FILE
	if err := os.WriteFile(caFile, published, 0o600); err != nil {
		t.Fatal(err)
	}

	// Two nodes from the rendered configuration, on loopback.
	t.Setenv("NATS_PASSWORD_READER", "pw-reader")
	var srvs []*server.Server
	var clusterPorts []int
	for range nodes {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		clusterPorts = append(clusterPorts, l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	for i := range nodes {
		conf := strings.ReplaceAll(confs[i], "/etc/nats-tls/", dirs[i]+"/")
		conf = strings.Replace(conf, "store_dir: /var/lib/nats/jetstream", "store_dir: "+t.TempDir(), 1)
		conf = strings.Replace(conf, "authorization { users = [] }",
			`authorization { users = [ { user: "reader", password: $NATS_PASSWORD_READER } ] }`, 1)
		path := filepath.Join(t.TempDir(), "nats-server.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatalf("nats-server rejects the configuration: %v\n%s", err, conf)
		}
		if opts.TLSConfig == nil || opts.AllowNonTLS {
			t.Fatal("the client port does not require TLS")
		}
		if opts.Cluster.TLSConfig == nil || opts.Cluster.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert {
			t.Fatal("the cluster routes are not mutual TLS (tls { verify: true } in cluster)")
		}
		opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", server.RANDOM_PORT, 0
		// As in AWS, every node lists every node's route (itself included).
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", clusterPorts[i]
		opts.Routes = server.RoutesFromStr("nats-route://127.0.0.1:" + itoa(clusterPorts[0]) + ",nats-route://127.0.0.1:" + itoa(clusterPorts[1]))
		opts.NoSigs, opts.NoLog = true, true
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("node %d not ready", i)
		}
		srvs = append(srvs, s)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srvs[0].NumRoutes() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if srvs[0].NumRoutes() == 0 {
		t.Error("the nodes did not route to each other over TLS")
	}

	// A node whose certificate another CA signed does not join: the routes verify.
	{
		conf := strings.ReplaceAll(confs[1], "/etc/nats-tls/", goTLSDir(t)+"/")
		conf = strings.Replace(conf, "store_dir: /var/lib/nats/jetstream", "store_dir: "+t.TempDir(), 1)
		conf = strings.Replace(conf, "server_name: videoforge-dev-nats-1", "server_name: intruder", 1)
		path := filepath.Join(t.TempDir(), "nats-server.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatal(err)
		}
		opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", server.RANDOM_PORT, 0
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", server.RANDOM_PORT
		opts.Routes = server.RoutesFromStr("nats-route://127.0.0.1:" + itoa(clusterPorts[0]))
		opts.NoSigs, opts.NoLog = true, true
		intruder, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go intruder.Start()
		defer intruder.Shutdown()
		time.Sleep(2 * time.Second)
		if n := intruder.NumRoutes(); n != 0 {
			t.Errorf("a node with another CA's certificate has %d routes", n)
		}
		rz, err := srvs[0].Routez(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rz.Routes {
			if r.RemoteID == intruder.ID() {
				t.Error("node 0 routes to a node with another CA's certificate")
			}
		}
	}

	url := "tls://127.0.0.1:" + itoa(srvs[1].Addr().(*net.TCPAddr).Port)
	nc, err := nats.Connect(url, nats.UserInfo("reader", "pw-reader"), nats.RootCAs(caFile), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("a client with tls:// and NATS_CA_FILE cannot connect: %v", err)
	}
	nc.Close()
	// Without the CA the node's certificate is not trusted; in plain text it is refused.
	if nc, err := nats.Connect(url, nats.UserInfo("reader", "pw-reader"), nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Error("a client without the cluster CA connected")
	}
	// The node announces that it requires TLS before anything else is said.
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "tls://"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	info := make([]byte, 4096)
	n, _ := conn.Read(info)
	if !bytes.Contains(info[:n], []byte(`"tls_required":true`)) {
		t.Errorf("the client port does not require TLS: %s", info[:n])
	}
}

func alnumOr_(r rune) rune {
	if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
		return r
	}
	return '_'
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

// exprText returns the source text of an attribute of a resource or data block.
func exprText(t *testing.T, c *config, dir, kind, typ, name, attr string) string {
	t.Helper()
	for _, b := range c.blocks(kind, typ) {
		if b.file.dir != dir || b.Labels[1] != name {
			continue
		}
		a, ok := b.Body.Attributes[attr]
		if !ok {
			t.Fatalf("%s: no %s", b.name(), attr)
		}
		src, err := os.ReadFile(b.file.path)
		if err != nil {
			t.Fatal(err)
		}
		r := a.Expr.Range()
		return string(src[r.Start.Byte:r.End.Byte])
	}
	t.Fatalf("%s: no %s %s.%s", dir, kind, typ, name)
	return ""
}

// srcText returns the source text of an expression.
func srcText(t *testing.T, e hclsyntax.Expression) string {
	t.Helper()
	r := e.Range()
	src, err := os.ReadFile(r.Filename)
	if err != nil {
		t.Fatal(err)
	}
	return string(src[r.Start.Byte:r.End.Byte])
}

// moduleArgs returns the arguments of a module call in dir as source text.
func moduleArgs(t *testing.T, c *config, dir, module string) map[string]string {
	t.Helper()
	for _, f := range c.files {
		if f.dir != dir {
			continue
		}
		for _, b := range f.body.Blocks {
			if b.Type != "module" || b.Labels[0] != module {
				continue
			}
			src, err := os.ReadFile(f.path)
			if err != nil {
				t.Fatal(err)
			}
			args := map[string]string{}
			for name, a := range b.Body.Attributes {
				r := a.Expr.Range()
				args[name] = string(src[r.Start.Byte:r.End.Byte])
			}
			return args
		}
	}
	t.Fatalf("%s calls no module %q", dir, module)
	return nil
}

// outputText returns the value expression of an output as source text.
func outputText(t *testing.T, c *config, dir, name string) string {
	t.Helper()
	for _, f := range c.files {
		if f.dir != dir {
			continue
		}
		for _, b := range f.body.Blocks {
			if b.Type == "output" && b.Labels[0] == name {
				src, _ := os.ReadFile(f.path)
				r := b.Body.Attributes["value"].Expr.Range()
				return string(src[r.Start.Byte:r.End.Byte])
			}
		}
	}
	t.Fatalf("%s has no output %q", dir, name)
	return ""
}

// TestNATSClientsUseTLS: every client URL is tls://, the clients get the CA
// certificate's secret (never the CA key's), and every role may read it.
func TestNATSClientsUseTLS(t *testing.T) {
	c := loadConfig(t)
	url := exprText(t, c, "modules/bus", "resource", "aws_secretsmanager_secret_version", "nats", "secret_string")
	if !strings.Contains(url, `"tls://${each.key}:`) || strings.Contains(url, "nats://") {
		t.Errorf("the users' NATS_URL is not tls://: %s", url)
	}
	if out := outputText(t, c, "modules/bus", "nats_url"); !strings.Contains(out, "tls://") || strings.Contains(out, "nats://") {
		t.Errorf("output nats_url is not tls://: %s", out)
	}
	if out := outputText(t, c, "modules/bus", "ca_cert_secret_arn"); strings.TrimSpace(out) != "aws_secretsmanager_secret.nats_ca_cert.arn" {
		t.Errorf("output ca_cert_secret_arn = %s, want the certificate-only secret", out)
	}
	if got := moduleArgs(t, c, "modules/videoforge", "compute")["nats_ca_secret_arn"]; got != "module.bus.ca_cert_secret_arn" {
		t.Errorf("compute gets nats_ca_secret_arn = %q, want module.bus.ca_cert_secret_arn", got)
	}
	// Every role's secrets include NATS_CA, so videoforge-config writes NATS_CA_FILE.
	secrets, ok := c.local("modules/compute", "secrets")
	if !ok {
		t.Fatal("modules/compute has no local.secrets")
	}
	obj, ok := secrets.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatal("local.secrets is not an object")
	}
	roles := 0
	for role, e := range objectItems(obj) {
		roles++
		inner, ok := e.(*hclsyntax.ObjectConsExpr)
		if !ok {
			t.Fatalf("local.secrets.%s is not an object", role)
		}
		ca, ok := objectItems(inner)["NATS_CA"]
		if !ok || !slices.Contains(references(ca), "var.nats_ca_secret_arn") {
			t.Errorf("role %s does not get NATS_CA from var.nats_ca_secret_arn", role)
		}
	}
	if roles != 3 {
		t.Errorf("local.secrets has %d roles, want 3", roles)
	}
	// And may read it (the base policy of every role).
	found := false
	for _, st := range statements(t, c, "modules/compute", "base") {
		if slices.Contains(st.actions, "secretsmanager:GetSecretValue") && slices.Contains(st.resources, "var.nats_ca_secret_arn") {
			found = true
		}
	}
	if !found {
		t.Error("the roles' base policy does not allow reading var.nats_ca_secret_arn")
	}
	// The nodes create and read the CA.
	var nodeOK bool
	for _, st := range statements(t, c, "modules/bus", "node") {
		if slices.Contains(st.actions, "secretsmanager:PutSecretValue") && slices.Contains(st.actions, "secretsmanager:GetSecretValue") &&
			slices.Contains(st.resources, "aws_secretsmanager_secret.nats_ca") && slices.Contains(st.resources, "aws_secretsmanager_secret.nats_ca_cert") {
			nodeOK = true
		}
	}
	if !nodeOK {
		t.Error("the NATS nodes may not put and get the CA secrets")
	}
}
