// Command tessera is the Tessera print-release agent.
//
//	tessera run [--config FILE] [flags]   run the agent
//	tessera demo --hub-bin PATH           run hub, virtual printer and agent together
//	tessera printer status TARGET         read the printer over SNMP
//	tessera card convert|explain|infer    card-number tools
//	tessera version                       print the version
package main
