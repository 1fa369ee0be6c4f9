package snmp

import (
	"strconv"
	"strings"
)

// Names of the Printer-MIB's enumerations (RFC 3805 and IANA-PRINTER-MIB).
// Unknown numbers render as the number, so nothing a printer says is lost.

const severityCritical = 3

// tableName returns names[i], the name a table of a textual convention
// gives the value i, or "" when it gives none.
func tableName(names []string, i int64) string {
	if i < 0 || i >= int64(len(names)) {
		return ""
	}
	return names[i]
}

// enumName is tableName with the number itself for a value the table does
// not name.
func enumName(names []string, n int64) string {
	if name := tableName(names, n); name != "" {
		return name
	}
	return strconv.FormatInt(n, 10)
}

func severityName(n int64) string {
	return enumName([]string{1: "other", severityCritical: "critical", 4: "warning", 5: "warning-binary-change"}, n)
}

func trainingName(n int64) string {
	if n == 0 {
		return "" // the optional column is absent
	}
	return enumName([]string{
		1: "other", 2: "unknown", 3: "untrained", 4: "trained", 5: "fieldService", 6: "management",
		7: "noInterventionRequired",
	}, n)
}

func alertGroupName(n int64) string {
	return enumName([]string{
		1: "other", 3: "hostResourcesMIBStorageTable", 4: "hostResourcesMIBDeviceTable",
		5: "generalPrinter", 6: "cover", 7: "localization", 8: "input", 9: "output", 10: "marker",
		11: "markerSupplies", 12: "markerColorant", 13: "mediaPath", 14: "channel", 15: "interpreter",
		16: "consoleDisplayBuffer", 17: "consoleLights", 18: "alert",
		30: "finDevice", 31: "finSupply", 32: "finSupplyMediaInput", 33: "finAttribute",
	}, n)
}

// alertCodeName is PrtAlertCodeTC. Codes below 100 apply to any sub-unit;
// the others belong to the alert group of their hundreds, so one short
// table a hundred keeps the tables dense.
func alertCodeName(n int64) string {
	var names []string
	switch n / 100 {
	case 0:
		names = []string{
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
	case 5: // generalPrinter
		names = []string{
			1: "doorOpen", 2: "doorClosed", 3: "powerUp", 4: "powerDown", 5: "printerNMSReset",
			6: "printerManualReset", 7: "printerReadyToPrint",
		}
	case 8: // input
		names = []string{
			1: "inputMediaTrayMissing", 2: "inputMediaSizeChange", 3: "inputMediaWeightChange",
			4: "inputMediaTypeChange", 5: "inputMediaColorChange", 6: "inputMediaFormPartsChange",
			7: "inputMediaSupplyLow", 8: "inputMediaSupplyEmpty", 9: "inputMediaChangeRequest",
			10: "inputManualInputRequest", 11: "inputTrayPositionFailure",
			12: "inputTrayElevationFailure", 13: "inputCannotFeedSizeSelected",
		}
	case 9: // output
		names = []string{
			1: "outputMediaTrayMissing", 2: "outputMediaTrayAlmostFull", 3: "outputMediaTrayFull",
			4: "outputMailboxSelectFailure",
		}
	case 10: // marker
		names = []string{
			1: "markerFuserUnderTemperature", 2: "markerFuserOverTemperature",
			3: "markerFuserTimingFailure", 4: "markerFuserThermistorFailure",
			5: "markerAdjustingPrintQuality",
		}
	case 11: // markerSupplies
		names = []string{
			1: "markerTonerEmpty", 2: "markerInkEmpty", 3: "markerPrintRibbonEmpty",
			4: "markerTonerAlmostEmpty", 5: "markerInkAlmostEmpty", 6: "markerPrintRibbonAlmostEmpty",
			7: "markerWasteTonerReceptacleAlmostFull", 8: "markerWasteInkReceptacleAlmostFull",
			9: "markerWasteTonerReceptacleFull", 10: "markerWasteInkReceptacleFull",
			11: "markerOpcLifeAlmostOver", 12: "markerOpcLifeOver", 13: "markerDeveloperAlmostEmpty",
			14: "markerDeveloperEmpty", 15: "markerTonerCartridgeMissing",
		}
	case 13: // mediaPath
		names = []string{
			1: "mediaPathMediaTrayMissing", 2: "mediaPathMediaTrayAlmostFull",
			3: "mediaPathMediaTrayFull", 4: "mediaPathCannotDuplexMediaSelected",
		}
	case 15: // interpreter
		names = []string{
			1: "interpreterMemoryIncrease", 2: "interpreterMemoryDecrease",
			3: "interpreterCartridgeAdded", 4: "interpreterCartridgeDeleted",
			5: "interpreterResourceAdded", 6: "interpreterResourceDeleted",
			7: "interpreterResourceUnavailable", 9: "interpreterComplexPageEncountered",
		}
	case 18: // alert
		names = []string{1: "alertRemovalOfBinaryChangeEntry"}
	}
	if name := tableName(names, n%100); name != "" {
		return name
	}
	return strconv.FormatInt(n, 10)
}

// supplyTypeName is PrtMarkerSuppliesTypeTC.
func supplyTypeName(n int64) string {
	return enumName([]string{
		1: "other", 2: "unknown", 3: "toner", 4: "wasteToner", 5: "ink", 6: "inkCartridge",
		7: "inkRibbon", 8: "wasteInk", 9: "opc", 10: "developer", 11: "fuserOil", 12: "solidWax",
		13: "ribbonWax", 14: "wasteWax", 15: "fuser", 16: "coronaWire", 17: "fuserOilWick",
		18: "cleanerUnit", 19: "fuserCleaningPad", 20: "transferUnit", 21: "tonerCartridge",
		22: "fuserOiler", 23: "water", 24: "wasteWater", 25: "glueWaterAdditive", 26: "wastePaper",
		27: "bindingSupply", 28: "bandingSupply", 29: "stitchingWire", 30: "shrinkWrap",
		31: "paperWrap", 32: "staples", 33: "inserts", 34: "covers", 35: "matteToner", 36: "matteInk",
	}, n)
}

// supplyUnitName is PrtMarkerSuppliesSupplyUnitTC.
func supplyUnitName(n int64) string {
	return enumName([]string{
		1: "other", 2: "unknown", 3: "tenThousandthsOfInches", 4: "micrometers", 7: "impressions",
		8: "sheets", 11: "hours", 12: "thousandthsOfOunces", 13: "tenthsOfGrams",
		14: "hundrethsOfFluidOunces", 15: "tenthsOfMilliliters", 16: "feet", 17: "meters",
		18: "items", 19: "percent",
	}, n)
}

// capacityUnitName is PrtCapacityUnitTC (input trays).
func capacityUnitName(n int64) string {
	return enumName([]string{
		1: "other", 2: "unknown", 3: "tenThousandthsOfInches", 4: "micrometers", 8: "sheets",
		16: "feet", 17: "meters", 18: "items", 19: "percent",
	}, n)
}

// inputTypeName is PrtInputTypeTC.
func inputTypeName(n int64) string {
	return enumName([]string{
		1: "other", 2: "unknown", 3: "sheetFeedAutoRemovableTray", 4: "sheetFeedAutoNonRemovableTray",
		5: "sheetFeedManual", 6: "continuousRoll", 7: "continuousFanFold",
	}, n)
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
