/*
Copyright 2026 The vpnuser-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command dashboard writes the operator's Grafana dashboard, built in Go with the Grafana
// Foundation SDK (dashboard.go), as JSON, and a picture of it (an SVG of its panels with
// their titles and queries, drawn from that JSON) for the README. `make manifests` runs it:
//
//	go run . -out ../../config/grafana
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// The files written under -out.
const (
	jsonFile = "vpnuser-operator.json"
	svgFile  = "dashboard.svg"
)

func main() {
	out := flag.String("out", ".", "directory to write "+jsonFile+" and "+svgFile+" to")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}

// write builds the dashboard and writes its JSON and its picture.
func write(dir string) error {
	data, err := dashboardJSON()
	if err != nil {
		return err
	}
	picture, err := render(data)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, jsonFile), data, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, svgFile), picture, 0o644)
}

// dashboardJSON is the dashboard as Grafana imports it, indented, with a final newline.
func dashboardJSON() ([]byte, error) {
	d, err := build()
	if err != nil {
		return nil, fmt.Errorf("building the dashboard: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
