package ir

import "errors"

// ClusterTLS is TLS from Envoy to a cluster's endpoints (Milvus's tlsMode 1,
// or 2 with a client certificate).
type ClusterTLS struct {
	// ServerName is the name every endpoint's certificate must hold (a DNS
	// or IP subject alternative name); a DNS name is also sent as SNI.
	ServerName string
	// CA is the PEM bundle the endpoints' certificates are verified against.
	CA []byte
	// ClientCert is the PEM client certificate chain presented to the
	// endpoints; nil for none.
	ClientCert []byte
	// ClientKey is ClientCert's PEM private key.
	ClientKey Secret
}

// validate checks what the builders rely on.
func (t *ClusterTLS) validate() error {
	var errs []error
	if len(t.CA) == 0 {
		errs = append(errs, errors.New("TLS without a CA"))
	}
	if t.ServerName == "" {
		errs = append(errs, errors.New("TLS without a server name"))
	}
	if (len(t.ClientCert) == 0) != (t.ClientKey == "") {
		errs = append(errs, errors.New("TLS client certificate without its key, or the other way round"))
	}
	return errors.Join(errs...)
}
