package config

import (
	"bytes"
	"context"
	"os"
	"time"
)

// Watch polls path every interval and calls onChange with the file's bytes
// whenever they differ from the last bytes seen (initially last). Polling the
// content survives editors that replace the file by rename. Read errors are
// passed to onChange as err.
func Watch(ctx context.Context, path string, interval time.Duration, last []byte, onChange func(data []byte, err error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
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
		if bytes.Equal(data, last) {
			continue
		}
		last = data
		onChange(data, nil)
	}
}
