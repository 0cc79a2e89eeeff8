package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"
)

const ctlUsage = `usage: milvus-edge ctl [--admin HOST:PORT] [--token-file FILE] [--config FILE] [--json] COMMAND

The edge's admin API from the command line. --admin and --token-file default
to the config file's edge.admin_address and edge.admin_token_file (without
--config: the embedded default, 127.0.0.1:18002, no token).

commands:
  clusters                            clusters and endpoints: Envoy's health, pushed weight and why
  drain CLUSTER ENDPOINT              no new calls to the endpoint; calls in flight finish
  undrain CLUSTER ENDPOINT            take a drained endpoint back
  weight CLUSTER ENDPOINT W [--for D] pin the endpoint's weight to W (1..128) for D (default 1h); W 0 clears it
  cache invalidate [--cluster C] [--db D] [--collection X]
                                      drop cached schemas (all without flags)
  policy status                       the policy bundle serving now

Drains and overrides live in the running edge's memory: a restart forgets them.
`

// ctlCall is one admin API request a ctl command makes.
type ctlCall struct {
	Method, Path string
	Body         any // nil for none
	// Table prints a successful answer for people (nil: indented JSON).
	Table func(w io.Writer, body []byte) error
}

// ctlOptions are ctl's global flags.
type ctlOptions struct {
	Admin, TokenFile, Config string
	JSON                     bool
}

// parseCtl reads ctl's flags and command into the call to make.
func parseCtl(args []string) (ctlOptions, ctlCall, error) {
	var o ctlOptions
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.Admin, "admin", "", "edge admin address host:port")
	fs.StringVar(&o.TokenFile, "token-file", "", "file holding the admin token")
	fs.StringVar(&o.Config, "config", "", "config file to take the admin address and token file from")
	fs.BoolVar(&o.JSON, "json", false, "print the admin API's JSON answer")
	if err := fs.Parse(args); err != nil {
		return o, ctlCall{}, err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return o, ctlCall{}, errors.New("missing command")
	}
	sub := flag.NewFlagSet(rest[0], flag.ContinueOnError)
	sub.SetOutput(io.Discard)
	sub.BoolVar(&o.JSON, "json", o.JSON, "print the admin API's JSON answer")
	// Flags may follow the positional arguments: parse them out wherever they are.
	parse := func(args []string) ([]string, error) {
		var pos []string
		for {
			if err := sub.Parse(args); err != nil {
				return nil, err
			}
			if sub.NArg() == 0 {
				return pos, nil
			}
			pos = append(pos, sub.Arg(0))
			args = sub.Args()[1:]
		}
	}
	switch rest[0] {
	case "clusters":
		pos, err := parse(rest[1:])
		if err != nil || len(pos) != 0 {
			return o, ctlCall{}, usageErr(err, "clusters takes no arguments")
		}
		return o, ctlCall{Method: http.MethodGet, Path: "/v1/clusters", Table: clustersTable}, nil
	case "drain", "undrain":
		pos, err := parse(rest[1:])
		if err != nil || len(pos) != 2 {
			return o, ctlCall{}, usageErr(err, rest[0]+" CLUSTER ENDPOINT")
		}
		return o, ctlCall{Method: http.MethodPost, Path: "/v1/endpoints/" + rest[0],
			Body: map[string]any{"cluster": pos[0], "endpoint": pos[1]}, Table: endpointLine}, nil
	case "weight":
		ttl := sub.Duration("for", time.Hour, "how long the override lasts")
		pos, err := parse(rest[1:])
		if err != nil || len(pos) != 3 {
			return o, ctlCall{}, usageErr(err, "weight CLUSTER ENDPOINT W [--for 10m]")
		}
		w, err := strconv.ParseUint(pos[2], 10, 8)
		if err != nil || w > 128 {
			return o, ctlCall{}, fmt.Errorf("weight %q: must be 0..128 (0 clears the override)", pos[2])
		}
		if *ttl <= 0 {
			return o, ctlCall{}, fmt.Errorf("--for %s: must be positive", *ttl)
		}
		return o, ctlCall{Method: http.MethodPost, Path: "/v1/endpoints/weight",
			Body: map[string]any{"cluster": pos[0], "endpoint": pos[1], "weight": w, "ttl": ttl.String()}, Table: endpointLine}, nil
	case "cache":
		cluster := sub.String("cluster", "", "one cluster (default all)")
		db := sub.String("db", "", "one database")
		coll := sub.String("collection", "", "one collection")
		pos, err := parse(rest[1:])
		if err != nil || len(pos) != 1 || pos[0] != "invalidate" {
			return o, ctlCall{}, usageErr(err, "cache invalidate [--cluster C] [--db D] [--collection X]")
		}
		return o, ctlCall{Method: http.MethodPost, Path: "/v1/cache/invalidate",
			Body: map[string]any{"cluster": *cluster, "db": *db, "collection": *coll}}, nil
	case "policy":
		pos, err := parse(rest[1:])
		if err != nil || len(pos) != 1 || pos[0] != "status" {
			return o, ctlCall{}, usageErr(err, "policy status")
		}
		return o, ctlCall{Method: http.MethodGet, Path: "/v1/policy", Table: policyLine}, nil
	}
	return o, ctlCall{}, fmt.Errorf("unknown command %q", rest[0])
}

func usageErr(err error, usage string) error {
	if err != nil {
		return fmt.Errorf("%w (usage: %s)", err, usage)
	}
	return errors.New("usage: milvus-edge ctl " + usage)
}

// ctlTarget resolves the admin address and token from the flags and the config file.
func ctlTarget(o ctlOptions) (addr, token string, err error) {
	addr, tokenFile := "127.0.0.1:18002", ""
	if o.Config != "" {
		data, err := os.ReadFile(o.Config)
		if err != nil {
			return "", "", fmt.Errorf("reading config: %w", err)
		}
		// Only the edge block: ctl needs no credentials or certificates.
		var c struct {
			Edge struct {
				AdminAddress   string `yaml:"admin_address"`
				AdminTokenFile string `yaml:"admin_token_file"`
			} `yaml:"edge"`
		}
		if err := yaml.Unmarshal(data, &c); err != nil {
			return "", "", fmt.Errorf("parsing config %s: %w", o.Config, err)
		}
		if c.Edge.AdminAddress != "" {
			addr = c.Edge.AdminAddress
		}
		tokenFile = c.Edge.AdminTokenFile
	}
	if o.Admin != "" {
		addr = o.Admin
	}
	if o.TokenFile != "" {
		tokenFile = o.TokenFile
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return "", "", fmt.Errorf("admin token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return addr, token, nil
}

func ctlCmd(args []string, stdout, stderr io.Writer) int {
	o, call, err := parseCtl(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, ctlUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "milvus-edge ctl: %v\n\n%s", err, ctlUsage)
		return 2
	}
	addr, token, err := ctlTarget(o)
	if err != nil {
		fmt.Fprintf(stderr, "milvus-edge ctl: %v\n", err)
		return 1
	}
	body, err := ctlDo(addr, token, call)
	if err != nil {
		fmt.Fprintf(stderr, "milvus-edge ctl: %v\n", err)
		return 1
	}
	if o.JSON || call.Table == nil {
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") != nil {
			buf.Reset()
			buf.Write(body)
		}
		fmt.Fprintln(stdout, strings.TrimSpace(buf.String()))
		return 0
	}
	if err := call.Table(stdout, body); err != nil {
		fmt.Fprintf(stderr, "milvus-edge ctl: reading the answer: %v\n", err)
		return 1
	}
	return 0
}

// ctlDo makes the call; an answer other than 200 is an error with the API's message.
func ctlDo(addr, token string, call ctlCall) ([]byte, error) {
	var rd io.Reader
	if call.Body != nil {
		b, err := json.Marshal(call.Body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(call.Method, "http://"+addr+call.Path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return nil, fmt.Errorf("%s %s: %s: %s", call.Method, call.Path, resp.Status, msg)
	}
	return body, nil
}

// ctlClusters is the part of GET /v1/clusters the table shows.
type ctlClusters struct {
	Clusters []struct {
		Name      string        `json:"name"`
		LBPolicy  string        `json:"lb_policy"`
		Endpoints []ctlEndpoint `json:"endpoints"`
	} `json:"clusters"`
	EnvoyError string `json:"envoy_error"`
}

type ctlEndpoint struct {
	Address    string `json:"address"`
	Configured uint32 `json:"configured_weight"`
	Weight     uint32 `json:"weight"`
	Why        string `json:"why"`
	Draining   bool   `json:"draining"`
	Envoy      *struct {
		Health string `json:"health"`
		Weight uint32 `json:"weight"`
	} `json:"envoy"`
}

// clustersTable prints one line per endpoint.
func clustersTable(w io.Writer, body []byte) error {
	var v ctlClusters
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tPOLICY\tENDPOINT\tHEALTH\tWEIGHT\tCONFIGURED\tWHY")
	for _, c := range v.Clusters {
		for _, e := range c.Endpoints {
			health := "?"
			if e.Envoy != nil {
				health = e.Envoy.Health
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", c.Name, c.LBPolicy, e.Address, health, e.Weight, e.Configured, e.Why)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if v.EnvoyError != "" {
		fmt.Fprintf(w, "health unknown: %s\n", v.EnvoyError)
	}
	return nil
}

// endpointLine prints the endpoint's state after an action.
func endpointLine(w io.Writer, body []byte) error {
	var v struct {
		Cluster  string       `json:"cluster"`
		Endpoint *ctlEndpoint `json:"endpoint"`
		Pushed   bool         `json:"pushed"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	if v.Endpoint == nil {
		return errors.New("no endpoint in the answer")
	}
	e := v.Endpoint
	pushed := "pushed to Envoy"
	if !v.Pushed {
		pushed = "no change to push"
	}
	fmt.Fprintf(w, "%s %s: weight %d (configured %d), draining %t — %s; %s\n",
		v.Cluster, e.Address, e.Weight, e.Configured, e.Draining, e.Why, pushed)
	return nil
}

// policyLine prints the policy bundle's status in one line.
func policyLine(w io.Writer, body []byte) error {
	var v struct {
		Version, Source, LastError string
		LoadedAt                   time.Time
		Cacheable                  bool
		LoadErrors                 int
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	last := "none"
	if v.LastError != "" {
		last = v.LastError
	}
	fmt.Fprintf(w, "policy bundle %s (%s), loaded %s, decisions cacheable %t, refused loads %d, last load error: %s\n",
		v.Version, v.Source, v.LoadedAt.UTC().Format(time.RFC3339), v.Cacheable, v.LoadErrors, last)
	return nil
}
