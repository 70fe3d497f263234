package bus_test

import (
	"context"
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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/videoforge/videoforge/bus"
)

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it, and returns
// the CA's PEM file and the server's TLS configuration.
func testCA(t *testing.T) (caFile string, cfg *tls.Config) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test NATS CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats-1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// TestConnectTLS: against a server that requires TLS (as the Terraform cluster's do),
// a connection trusts the CA of NATS_CA_FILE, with a tls:// or a nats:// URL; without
// it, or with another CA, it is refused and nothing is sent in the clear.
func TestConnectTLS(t *testing.T) {
	caFile, tlsCfg := testCA(t)
	otherCA, _ := testCA(t)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		TLS: true, TLSConfig: tlsCfg, TLSTimeout: 2})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	addr := ns.Addr().String()
	connectWith := func(ca, url string) error {
		t.Setenv(bus.CAFileEnv, ca)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := bus.Connect(ctx, url, "tls-test", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.NATS().Publish("x", []byte("over TLS"))
	}
	for _, url := range []string{"tls://" + addr, "nats://" + addr} {
		if err := connectWith(caFile, url); err != nil {
			t.Errorf("%s with the cluster's CA: %v", url, err)
		}
	}
	if err := connectWith("", "tls://"+addr); err == nil {
		t.Error("connected without the CA: the system's roots must not accept a private CA's certificate")
	}
	if err := connectWith(otherCA, "tls://"+addr); err == nil {
		t.Error("connected trusting another CA")
	}
	if err := connectWith(filepath.Join(t.TempDir(), "missing.pem"), "tls://"+addr); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("a CA file that is not there: %v, want an error naming it", err)
	}
}
