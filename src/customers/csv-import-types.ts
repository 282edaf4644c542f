// What the CSV import reports and takes, shared by its reading half (csv-import.ts) and its
// writing half (csv-import-batch.ts).

export interface RowError {
  line: number;
  email: string | null;
  reason: string;
}

export interface ImportSummary {
  created: number;
  updated: number;
  skipped: number;
  failed: number;
  dry_run: boolean;
  errors: RowError[];
}

export interface ImportOptions {
  dryRun?: boolean;
  updateExisting?: boolean;
  /** after each batch: rows read so far and bytes of the file consumed */
  onProgress?: (p: { rows: number; bytes: number }) => void;
}
