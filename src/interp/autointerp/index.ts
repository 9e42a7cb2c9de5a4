/** Automated interpretability (delphi style): an OpenAI-compatible chat client, prompts, scorers and the offline baseline. */
export { ChatClient, EndpointError, BudgetExceededError, type ChatClientOptions, type ChatMessage, type ChatResult, type ChatEvent, type ChatStats, type TokenLogprob } from './client.js';
export { explainerMessages, scorerMessages, parseExplanation, parsePredictions, predictionProbabilities, highlight, type TextExample } from './prompts.js';
export { scoreMetrics, auc, type ScoreMetrics } from './metrics.js';
export {
  explainLatents, scoreLatents, tokenListExplanation, explanationTokens, simulateRule, bindAutointerpFolder, AutointerpError, SCORERS, OFFLINE_LABEL, RULE_SIMULATOR,
  type ExplainOptions, type ScoreOptions, type RunSummary, type ScoreSummary, type ScorerName, type ExplanationFile, type ScoreFile, type AutointerpEvent,
} from './run.js';
