// Command hello is what TestBuildBinaryOnce builds.
package main

func main() {}
