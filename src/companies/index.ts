// Companies and their email domains: the public face of the domain.
export * from './domains.ts';
export * from './directory.ts';
