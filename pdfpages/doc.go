// Package pdfpages counts the pages of a PDF document without rendering it,
// so the hub and the agent can show and check page counts of held jobs.
package pdfpages
