package snmp

// Objects read, without leading dots. Names are those of the MIBs:
// SNMPv2-MIB (RFC 3418), IF-MIB (RFC 2863), HOST-RESOURCES-MIB (RFC 2790)
// and Printer-MIB (RFC 3805).
const (
	oidSysDescr    = "1.3.6.1.2.1.1.1.0"
	oidSysObjectID = "1.3.6.1.2.1.1.2.0"
	oidSysName     = "1.3.6.1.2.1.1.5.0"
	oidSysLocation = "1.3.6.1.2.1.1.6.0"

	oidIfType        = "1.3.6.1.2.1.2.2.1.3"
	oidIfPhysAddress = "1.3.6.1.2.1.2.2.1.6"

	oidHrDeviceType   = "1.3.6.1.2.1.25.3.2.1.2"
	oidHrDeviceDescr  = "1.3.6.1.2.1.25.3.2.1.3"
	oidHrDeviceStatus = "1.3.6.1.2.1.25.3.2.1.5"
	// hrDevicePrinter, the hrDeviceType of a printer.
	oidHrDevicePrinter = "1.3.6.1.2.1.25.3.1.5"

	oidHrPrinterStatus     = "1.3.6.1.2.1.25.3.5.1.1"
	oidHrPrinterErrorState = "1.3.6.1.2.1.25.3.5.1.2" // hrPrinterDetectedErrorState

	oidPrtGeneralSerialNumber = "1.3.6.1.2.1.43.5.1.1.17"

	prtInputEntry          = "1.3.6.1.2.1.43.8.2.1"
	oidPrtInputType        = prtInputEntry + ".2"
	oidPrtInputDimUnit     = prtInputEntry + ".3"
	oidPrtInputDimFeed     = prtInputEntry + ".4" // prtInputMediaDimFeedDirDeclared
	oidPrtInputDimXFeed    = prtInputEntry + ".5" // prtInputMediaDimXFeedDirDeclared
	oidPrtInputChosenFeed  = prtInputEntry + ".6" // prtInputMediaDimFeedDirChosen
	oidPrtInputChosenXFeed = prtInputEntry + ".7" // prtInputMediaDimXFeedDirChosen
	oidPrtInputCapUnit     = prtInputEntry + ".8"
	oidPrtInputMax         = prtInputEntry + ".9"
	oidPrtInputLevel       = prtInputEntry + ".10"
	oidPrtInputStatus      = prtInputEntry + ".11"
	oidPrtInputMediaName   = prtInputEntry + ".12"
	oidPrtInputName        = prtInputEntry + ".13"
	oidPrtInputDescription = prtInputEntry + ".18"

	oidPrtMarkerLifeCount = "1.3.6.1.2.1.43.10.2.1.4"

	prtSuppliesEntry       = "1.3.6.1.2.1.43.11.1.1"
	oidPrtSupplyColorant   = prtSuppliesEntry + ".3"
	oidPrtSupplyClass      = prtSuppliesEntry + ".4"
	oidPrtSupplyType       = prtSuppliesEntry + ".5"
	oidPrtSupplyDescr      = prtSuppliesEntry + ".6"
	oidPrtSupplyUnit       = prtSuppliesEntry + ".7"
	oidPrtSupplyMax        = prtSuppliesEntry + ".8"
	oidPrtSupplyLevel      = prtSuppliesEntry + ".9"
	oidPrtMarkerColorant   = "1.3.6.1.2.1.43.12.1.1.4" // prtMarkerColorantValue
	oidPrtConsoleText      = "1.3.6.1.2.1.43.16.5.1.2" // prtConsoleDisplayBufferText
	prtAlertEntry          = "1.3.6.1.2.1.43.18.1.1"
	oidPrtAlertSeverity    = prtAlertEntry + ".2"
	oidPrtAlertTraining    = prtAlertEntry + ".3"
	oidPrtAlertGroup       = prtAlertEntry + ".4"
	oidPrtAlertGroupIndex  = prtAlertEntry + ".5"
	oidPrtAlertLocation    = prtAlertEntry + ".6"
	oidPrtAlertCode        = prtAlertEntry + ".7"
	oidPrtAlertDescription = prtAlertEntry + ".8"
	oidPrtAlertTime        = prtAlertEntry + ".9"
)

// scalarOIDs are read with one GET at the start of a full read.
func scalarOIDs() []string {
	return []string{oidSysDescr, oidSysObjectID, oidSysName, oidSysLocation}
}

// columnOIDs are the table columns a full read walks, longest tables
// first so that the short ones fill the requests' spare room at the end.
func columnOIDs() []string {
	return []string{
		oidPrtSupplyDescr, oidPrtSupplyLevel, oidPrtSupplyMax, oidPrtSupplyType,
		oidPrtSupplyClass, oidPrtSupplyUnit, oidPrtSupplyColorant,
		oidHrDeviceType, oidHrDeviceDescr, oidHrDeviceStatus,
		oidPrtInputName, oidPrtInputMax, oidPrtInputLevel, oidPrtInputStatus,
		oidPrtInputMediaName, oidPrtInputDescription, oidPrtInputType, oidPrtInputCapUnit,
		oidPrtInputDimUnit, oidPrtInputDimFeed, oidPrtInputDimXFeed, oidPrtInputChosenFeed, oidPrtInputChosenXFeed,
		oidPrtAlertSeverity, oidPrtAlertTraining, oidPrtAlertGroup, oidPrtAlertGroupIndex,
		oidPrtAlertLocation, oidPrtAlertCode, oidPrtAlertDescription, oidPrtAlertTime,
		oidIfType, oidIfPhysAddress,
		oidPrtMarkerColorant, oidPrtConsoleText,
		oidHrPrinterStatus, oidHrPrinterErrorState, oidPrtGeneralSerialNumber, oidPrtMarkerLifeCount,
	}
}
