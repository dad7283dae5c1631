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

// Command crdtemplate writes the chart's templates/crd.yaml from the CRDs that
// controller-gen generated (make manifests runs it):
//
//	go run ./hack/chartcheck/crdtemplate -out config/helm/vpnuser-operator/templates/crd.yaml config/crd/bases/*.yaml
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/vpnuser-operator/vpnuser-operator/hack/chartcheck"
)

func main() {
	out := flag.String("out", "", "the template to write")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: crdtemplate -out TEMPLATE CRD.yaml...")
		os.Exit(2)
	}
	var crds [][]byte
	for _, f := range flag.Args() {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		crds = append(crds, data)
	}
	tmpl, err := chartcheck.CRDTemplate(crds...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crdtemplate:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, tmpl, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
