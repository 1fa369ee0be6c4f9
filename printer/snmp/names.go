package snmp

import (
	"strconv"
	"strings"
)

// Names of the Printer-MIB's enumerations (RFC 3805 and IANA-PRINTER-MIB).
// Unknown numbers render as the number, so nothing a printer says is lost.

const severityCritical = 3

func severityName(n int64) string {
	switch n {
	case 1:
		return "other"
	case severityCritical:
		return "critical"
	case 4:
		return "warning"
	case 5:
		return "warning-binary-change"
	}
	return strconv.FormatInt(n, 10)
}

func trainingName(n int64) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "other"
	case 2:
		return "unknown"
	case 3:
		return "untrained"
	case 4:
		return "trained"
	case 5:
		return "fieldService"
	case 6:
		return "management"
	case 7:
		return "noInterventionRequired"
	}
	return strconv.FormatInt(n, 10)
}

func alertGroupName(n int64) string {
	switch n {
	case 1:
		return "other"
	case 3:
		return "hostResourcesMIBStorageTable"
	case 4:
		return "hostResourcesMIBDeviceTable"
	case 5:
		return "generalPrinter"
	case 6:
		return "cover"
	case 7:
		return "localization"
	case 8:
		return "input"
	case 9:
		return "output"
	case 10:
		return "marker"
	case 11:
		return "markerSupplies"
	case 12:
		return "markerColorant"
	case 13:
		return "mediaPath"
	case 14:
		return "channel"
	case 15:
		return "interpreter"
	case 16:
		return "consoleDisplayBuffer"
	case 17:
		return "consoleLights"
	case 18:
		return "alert"
	case 30:
		return "finDevice"
	case 31:
		return "finSupply"
	case 32:
		return "finSupplyMediaInput"
	case 33:
		return "finAttribute"
	}
	return strconv.FormatInt(n, 10)
}

// alertCodeName is PrtAlertCodeTC.
func alertCodeName(n int64) string {
	names := []string{
		1: "other", 2: "unknown", 3: "coverOpen", 4: "coverClosed", 5: "interlockOpen",
		6: "interlockClosed", 7: "configurationChange", 8: "jam", 9: "subunitMissing",
		10: "subunitLifeAlmostOver", 11: "subunitLifeOver", 12: "subunitAlmostEmpty",
		13: "subunitEmpty", 14: "subunitAlmostFull", 15: "subunitFull", 16: "subunitNearLimit",
		17: "subunitAtLimit", 18: "subunitOpened", 19: "subunitClosed", 20: "subunitTurnedOn",
		21: "subunitTurnedOff", 22: "subunitOffline", 23: "subunitPowerSaver",
		24: "subunitWarmingUp", 25: "subunitAdded", 26: "subunitRemoved",
		27: "subunitResourceAdded", 28: "subunitResourceRemoved",
		29: "subunitRecoverableFailure", 30: "subunitUnrecoverableFailure",
		31: "subunitRecoverableStorageError", 32: "subunitUnrecoverableStorageError",
		33: "subunitMotorFailure", 34: "subunitMemoryExhausted", 35: "subunitUnderTemperature",
		36: "subunitOverTemperature", 37: "subunitTimingFailure", 38: "subunitThermistorFailure",
	}
	if n >= 1 && n < int64(len(names)) {
		return names[n]
	}
	switch n {
	case 501:
		return "doorOpen"
	case 502:
		return "doorClosed"
	case 503:
		return "powerUp"
	case 504:
		return "powerDown"
	case 505:
		return "printerNMSReset"
	case 506:
		return "printerManualReset"
	case 507:
		return "printerReadyToPrint"
	case 801:
		return "inputMediaTrayMissing"
	case 802:
		return "inputMediaSizeChange"
	case 803:
		return "inputMediaWeightChange"
	case 804:
		return "inputMediaTypeChange"
	case 805:
		return "inputMediaColorChange"
	case 806:
		return "inputMediaFormPartsChange"
	case 807:
		return "inputMediaSupplyLow"
	case 808:
		return "inputMediaSupplyEmpty"
	case 809:
		return "inputMediaChangeRequest"
	case 810:
		return "inputManualInputRequest"
	case 811:
		return "inputTrayPositionFailure"
	case 812:
		return "inputTrayElevationFailure"
	case 813:
		return "inputCannotFeedSizeSelected"
	case 901:
		return "outputMediaTrayMissing"
	case 902:
		return "outputMediaTrayAlmostFull"
	case 903:
		return "outputMediaTrayFull"
	case 904:
		return "outputMailboxSelectFailure"
	case 1001:
		return "markerFuserUnderTemperature"
	case 1002:
		return "markerFuserOverTemperature"
	case 1003:
		return "markerFuserTimingFailure"
	case 1004:
		return "markerFuserThermistorFailure"
	case 1005:
		return "markerAdjustingPrintQuality"
	case 1101:
		return "markerTonerEmpty"
	case 1102:
		return "markerInkEmpty"
	case 1103:
		return "markerPrintRibbonEmpty"
	case 1104:
		return "markerTonerAlmostEmpty"
	case 1105:
		return "markerInkAlmostEmpty"
	case 1106:
		return "markerPrintRibbonAlmostEmpty"
	case 1107:
		return "markerWasteTonerReceptacleAlmostFull"
	case 1108:
		return "markerWasteInkReceptacleAlmostFull"
	case 1109:
		return "markerWasteTonerReceptacleFull"
	case 1110:
		return "markerWasteInkReceptacleFull"
	case 1111:
		return "markerOpcLifeAlmostOver"
	case 1112:
		return "markerOpcLifeOver"
	case 1113:
		return "markerDeveloperAlmostEmpty"
	case 1114:
		return "markerDeveloperEmpty"
	case 1115:
		return "markerTonerCartridgeMissing"
	case 1301:
		return "mediaPathMediaTrayMissing"
	case 1302:
		return "mediaPathMediaTrayAlmostFull"
	case 1303:
		return "mediaPathMediaTrayFull"
	case 1304:
		return "mediaPathCannotDuplexMediaSelected"
	case 1501:
		return "interpreterMemoryIncrease"
	case 1502:
		return "interpreterMemoryDecrease"
	case 1503:
		return "interpreterCartridgeAdded"
	case 1504:
		return "interpreterCartridgeDeleted"
	case 1505:
		return "interpreterResourceAdded"
	case 1506:
		return "interpreterResourceDeleted"
	case 1507:
		return "interpreterResourceUnavailable"
	case 1509:
		return "interpreterComplexPageEncountered"
	case 1801:
		return "alertRemovalOfBinaryChangeEntry"
	}
	return strconv.FormatInt(n, 10)
}

// supplyTypeName is PrtMarkerSuppliesTypeTC.
func supplyTypeName(n int64) string {
	names := []string{
		1: "other", 2: "unknown", 3: "toner", 4: "wasteToner", 5: "ink", 6: "inkCartridge",
		7: "inkRibbon", 8: "wasteInk", 9: "opc", 10: "developer", 11: "fuserOil", 12: "solidWax",
		13: "ribbonWax", 14: "wasteWax", 15: "fuser", 16: "coronaWire", 17: "fuserOilWick",
		18: "cleanerUnit", 19: "fuserCleaningPad", 20: "transferUnit", 21: "tonerCartridge",
		22: "fuserOiler", 23: "water", 24: "wasteWater", 25: "glueWaterAdditive", 26: "wastePaper",
		27: "bindingSupply", 28: "bandingSupply", 29: "stitchingWire", 30: "shrinkWrap",
		31: "paperWrap", 32: "staples", 33: "inserts", 34: "covers", 35: "matteToner", 36: "matteInk",
	}
	if n >= 1 && n < int64(len(names)) {
		return names[n]
	}
	return strconv.FormatInt(n, 10)
}

// supplyUnitName is PrtMarkerSuppliesSupplyUnitTC.
func supplyUnitName(n int64) string {
	switch n {
	case 1:
		return "other"
	case 2:
		return "unknown"
	case 3:
		return "tenThousandthsOfInches"
	case 4:
		return "micrometers"
	case 7:
		return "impressions"
	case 8:
		return "sheets"
	case 11:
		return "hours"
	case 12:
		return "thousandthsOfOunces"
	case 13:
		return "tenthsOfGrams"
	case 14:
		return "hundrethsOfFluidOunces"
	case 15:
		return "tenthsOfMilliliters"
	case 16:
		return "feet"
	case 17:
		return "meters"
	case 18:
		return "items"
	case 19:
		return "percent"
	}
	return strconv.FormatInt(n, 10)
}

// capacityUnitName is PrtCapacityUnitTC (input trays).
func capacityUnitName(n int64) string {
	switch n {
	case 1:
		return "other"
	case 2:
		return "unknown"
	case 3:
		return "tenThousandthsOfInches"
	case 4:
		return "micrometers"
	case 8:
		return "sheets"
	case 16:
		return "feet"
	case 17:
		return "meters"
	case 18:
		return "items"
	case 19:
		return "percent"
	}
	return strconv.FormatInt(n, 10)
}

// inputTypeName is PrtInputTypeTC.
func inputTypeName(n int64) string {
	switch n {
	case 1:
		return "other"
	case 2:
		return "unknown"
	case 3:
		return "sheetFeedAutoRemovableTray"
	case 4:
		return "sheetFeedAutoNonRemovableTray"
	case 5:
		return "sheetFeedManual"
	case 6:
		return "continuousRoll"
	case 7:
		return "continuousFanFold"
	}
	return strconv.FormatInt(n, 10)
}

// subUnitStatus puts PrtSubUnitStatusTC in words: the availability in the
// low three bits, then alert, offline and transition flags.
func subUnitStatus(n int64) string {
	if n < 0 || n > 127 {
		return "invalid"
	}
	parts := []string{[]string{
		"available", "unavailable (on request)", "standby", "unavailable (broken)",
		"active", "unknown", "busy", "unknown",
	}[n&7]}
	if n&8 != 0 {
		parts = append(parts, "non-critical alert")
	}
	if n&16 != 0 {
		parts = append(parts, "critical alert")
	}
	if n&32 != 0 {
		parts = append(parts, "offline")
	}
	if n&64 != 0 {
		parts = append(parts, "transitioning")
	}
	return strings.Join(parts, ", ")
}
