/** The compose loader's public surface: load a project, print it, enable targeted services. */
export { displayPath, type LoaderOptions, loadProject } from './load.ts';
export { withServicesEnabled } from './normalize.ts';
export { checkProjectName, DEFAULT_FILES, normalizeProjectName, OVERRIDE_FILES } from './project-name.ts';
export { goDuration, projectToConfig, type RenderOptions, renderConfig } from './render-config.ts';
