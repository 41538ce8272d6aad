package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"ikegate/oakley"
)

// cmdAlgs lists every proposal keyword of the ike and esp lists with what
// it stands for.
func cmdAlgs(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("algs", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := noPositional(fs, args); !ok {
		return code
	}
	ks := oakley.Keywords()
	if *asJSON {
		return printJSON(stdout, stderr, ks)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KEYWORD\tKIND\tMEANING\tNOTE")
	for _, k := range ks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Word, k.Kind, k.Meaning, k.Note)
	}
	tw.Flush()
	fmt.Fprintln(stdout, "\nA proposal joins keywords with '-', e.g. aes256-sha256-modp2048 (IKE) or aes256gcm16 (ESP); Cisco and Libreswan spellings get a suggestion.")
	return exitOK
}
