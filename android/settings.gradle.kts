// Standalone Gradle build of the aparking-core Android library (AAR).
// Open this directory (android/) in Android Studio, or run Gradle here; see README.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "aparking-core-android"
