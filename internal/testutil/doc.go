// Package testutil is the test harness shared by pgha's packages: a real
// embedded etcd cluster whose members can be stopped, hard-killed, restarted
// and cut from their peers; loopback TCP fault proxies; free ports that are
// safe across parallel tests and parallel test processes; discovery of the
// PostgreSQL and HAProxy binaries; directories an unprivileged OS user can
// use; and a polling helper.
//
// Every resource it creates is released through t.Cleanup. Missing binaries
// fail the test (never skip it) with a message naming the Debian package.
package testutil
