// uPlot is loaded by its own classic <script> (/assets/uplot.min.js, its IIFE build) and
// seen here as the global its types declare (`export as namespace uPlot`).
/// <reference types="uplot" />
