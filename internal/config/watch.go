package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Watch polls path every interval and calls onChange with the file's bytes
// whenever they differ from the last bytes seen (initially last), or when a
// file the config refers to (credential and backend TLS files, see Files)
// changed, so that a rotated password or certificate is picked up without
// touching the config. Polling the content survives editors that replace
// files by rename. Read errors of the config are passed to onChange as err.
func Watch(ctx context.Context, path string, interval time.Duration, last []byte, onChange func(data []byte, err error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	files, sum := referenced(last)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if err.Error() != lastErr {
				lastErr = err.Error()
				onChange(nil, err)
			}
			continue
		}
		lastErr = ""
		if !bytes.Equal(data, last) {
			last = data
			files, sum = referenced(data)
			onChange(data, nil)
			continue
		}
		if s := filesSum(files); s != sum {
			sum = s
			onChange(data, nil)
		}
	}
}

// referenced returns the files a config refers to and their contents' sum.
func referenced(data []byte) ([]string, [32]byte) {
	var c Config
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, [32]byte{}
	}
	files := c.Files()
	return files, filesSum(files)
}

func filesSum(files []string) [32]byte {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			h.Write([]byte("\x00missing\x00" + f))
			continue
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// Files lists the files the config reads secrets and certificates from for
// its backends: clusters' credential and TLS files. (The listener's TLS files
// have a watcher of their own, which swaps only the secret.)
func (c *Config) Files() []string {
	var out []string
	add := func(fs ...string) {
		for _, f := range fs {
			if f != "" {
				out = append(out, f)
			}
		}
	}
	for _, cl := range c.Clusters {
		if cr := cl.Credential; cr != nil {
			add(cr.PasswordFile, cr.TokenFile)
		}
		if t := cl.TLS; t != nil {
			add(t.CAFile, t.CertFile, t.KeyFile)
		}
	}
	return out
}
