// Package profile holds the vendor profiles of printer/snmp: what a
// printer's maker exposes beyond the standard Printer-MIB (counters split
// by function and colour, model and serial where the standard objects are
// empty), and which printers each profile applies to.
//
// A profile is data, not code: one JSON file per vendor under profiles/,
// naming every OID it reads together with the source of that OID (the
// vendor's MIB or a public monitoring project's definition). Read turns a
// profile into as few SNMP round trips as it can: one GET of all scalar
// OIDs, then one walk per table column. A counter is reported only when
// its OIDs answer with a counter-like value; nothing is estimated.
//
// # Data format
//
// Every OID is numeric, without a leading dot, and every entry carries a
// non-empty "source"; Load rejects unknown keys.
//
//	{
//	  "vendor": "Xerox",
//	  "notes": "free text, optional",
//	  "match": {"enterprises": [253], "descr": ["^Xerox "], "source": "..."},
//	  "model":  [{"oid": "...", "source": "..."}],
//	  "serial": [{"oid": "...", "source": "..."}],
//	  "firmware": [{"oid": "...", "source": "..."}],
//	  "counters": [{"counter": "total", "oid": "...", "source": "..."}],
//	  "tables": [{
//	    "values": "1.3.6.1.4.1.253.8.53.13.2.1.6", "source": "...",
//	    "keys": "", "keys_source": "",
//	    "rows": [{"index": "*.20.3", "counter": "copy", "source": "..."}]
//	  }],
//	  "derive": [{"counter": "total", "sum": ["mono", "color"], "source": "..."}]
//	}
//
// match: a printer matches on sysObjectID's enterprise number, or on a
// descr pattern (a case-insensitive regexp tried on sysDescr and on
// hrDeviceDescr); a pattern match outranks an enterprise match.
//
// model, serial, firmware: tried in order; the first non-empty string
// wins. firmware is asked only by the printer-firmware task (the version
// before and after an update), never by a full read.
//
// counters: scalar OIDs fetched in the one GET. Entries naming the same
// counter are added up, as are table rows naming it, so a counter may be
// the sum of several OIDs; the sum covers the parts that answered.
//
// tables: the "values" column is walked. With a "keys" column (walked
// too), a row matches when the key column's value at the same index
// equals the row's "key" (a name, case-insensitively, or a type code).
// Without one, a row matches the row index itself, arc by arc, where "*"
// stands for any single arc.
//
// derive: a counter computed from others, only when it did not answer
// itself and every part did. Use it only where the sum is exact.
//
// Counter names are total, mono, color, print, copy, scan and fax.
package profile
