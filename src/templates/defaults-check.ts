// Start-up check: every shipped template must compile and render its sample variables, or the
// process does not start. One error lists every failure, so one run shows all that is broken.
import { cachedDefault } from './cache.ts';
import { checkTemplate } from './compile.ts';
import { DEFAULT_LOCALES, defaultSource } from './defaults.ts';
import { TemplateError, type TemplateProblem } from './errors.ts';
import { sampleVariables } from './samples.ts';
import { TEMPLATE_NAMES } from './schemas.ts';

/** Validates and compiles every default template (and warms the cache); throws a TemplateError listing every failure. */
export async function compileDefaultTemplates(): Promise<{ compiled: number }> {
  const problems: TemplateProblem[] = [];
  let compiled = 0;
  for (const name of TEMPLATE_NAMES) {
    for (const locale of DEFAULT_LOCALES) {
      const source = defaultSource(name, locale);
      if (!source) {
        problems.push({ name, locale, part: 'html', line: 0, message: `missing: templates/mail/${name}/${locale}.*` });
        continue;
      }
      const checked = await checkTemplate(source);
      problems.push(...checked.problems);
      const template = checked.compiled;
      if (!template) continue;
      try {
        template.render(sampleVariables(name));
      } catch (err) {
        problems.push({
          name,
          locale,
          part: 'html',
          line: 0,
          message: `rendering the sample variables fails: ${(err as Error).message}`,
        });
        continue;
      }
      await cachedDefault(name, locale, async () => template);
      compiled++;
    }
  }
  if (problems.length) throw new TemplateError(problems);
  return { compiled };
}
